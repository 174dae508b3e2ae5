"""Bradley–Terry ratings on the Elo scale, from (possibly soft) pairwise comparisons.

Model: ``P(a beats b) = sigmoid(s_a - s_b)`` with a strength ``s`` per model in
natural-log units (Bradley & Terry 1952; the form Bai et al. 2022 report as
"Elo"). One natural-log unit is ``400 / ln 10 ~= 173.7`` Elo points, so a
strength ratio of 3 (p = 0.75) is ``400 * log10(3) ~= 190.8`` points.

Fit: maximum likelihood on the logistic log-likelihood with *soft* targets,
``sum_c p_c log sigmoid(d_c) + (1 - p_c) log sigmoid(-d_c)``, by Newton's
method with a backtracking line search. Soft targets matter because our judge
averages both presentation orders, so p = 0.5 (a tie) or 0.7 are common.
A comparison only enters through its pair, so the data are reduced to a count
and a total score per pair; this is what makes the bootstrap cheap (a
resample only reweights the pairs) and lets all replicates run as one batch.

Prior (our addition): every model plays ``prior`` virtual ties against a fixed
reference of strength 0. Without it, a model that won every comparison would
have infinite strength; with it (default 1 tie), ratings shrink toward the
mean by roughly ``prior / (comparisons per model)`` of their distance from it:
about 2 Elo points for a model 190 points out with 100 comparisons, well
under the sampling noise at that size (a standard error of about 40).

Scale: ratings are reported as ``1000 + 400/ln10 * (s - c)`` where ``c`` is the
mean strength, or the anchor model's strength if ``anchor`` is given (that
model is then exactly 1000, in every bootstrap replicate too).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

ELO_PER_NAT = 400 / math.log(10)  # 173.72: Elo points per unit of log-strength
BASE = 1000.0


class Comparison(NamedTuple):
    """``p`` is the score of ``model_a`` against ``model_b``: 1 win, 0 loss, 0.5 tie."""

    model_a: str
    model_b: str
    p: float


class _Pairs(NamedTuple):
    """Comparisons reduced to unordered pairs ``(i < j)``; ``score`` is i's score."""

    models: list[str]
    i: np.ndarray  # (n_comparisons,) first model index of each comparison
    j: np.ndarray
    score: np.ndarray  # (n_comparisons,) i's score, after putting the lower index first


def _index(comparisons: Iterable[Sequence]) -> _Pairs:
    rows = [Comparison(str(a), str(b), float(p)) for a, b, p in comparisons]
    if not rows:
        raise ValueError("no comparisons to fit")
    models = sorted({m for r in rows for m in (r.model_a, r.model_b)})
    pos = {m: k for k, m in enumerate(models)}
    i, j, score = [], [], []
    for r in rows:
        if r.model_a == r.model_b:
            raise ValueError(f"a model compared with itself: {r}")
        if not 0.0 <= r.p <= 1.0 or math.isnan(r.p):
            raise ValueError(f"score must be in [0, 1]: {r}")
        a, b, p = pos[r.model_a], pos[r.model_b], r.p
        if a > b:  # (b, a, 1-p) is the same observation written from the other side
            a, b, p = b, a, 1.0 - p
        i.append(a), j.append(b), score.append(p)
    return _Pairs(models, np.array(i), np.array(j), np.array(score))


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free


def _objective(s, count, score, pi, pj, prior):
    """Log-likelihood plus prior for a batch of strengths ``s`` (B, K)."""
    d = s[:, pi] - s[:, pj]
    ll = (score * _log_sigmoid(d) + (count - score) * _log_sigmoid(-d)).sum(1)
    return ll + prior * (0.5 * _log_sigmoid(s) + 0.5 * _log_sigmoid(-s)).sum(1)


def _newton(count: np.ndarray, score: np.ndarray, pi, pj, k: int, prior: float, iters: int) -> np.ndarray:
    """Maximize the penalized log-likelihood for B weightings at once.

    ``count``/``score`` are (B, P): per replicate and pair, the comparison count
    and the first model's total score. Returns strengths (B, K). The objective
    is concave, so Newton with Armijo backtracking converges from zero; with
    ``prior=0`` the Hessian is singular along "shift everyone", and the
    pseudo-inverse step simply never moves that way.
    """
    b = count.shape[0]
    s = np.zeros((b, k))
    onehot = np.zeros((len(pi), k))
    onehot[np.arange(len(pi)), pi] = 1.0
    onehot[np.arange(len(pi)), pj] -= 1.0  # pair -> +1 for i, -1 for j
    steps = 0.5 ** np.arange(12)
    for _ in range(iters):
        d = s[:, pi] - s[:, pj]
        sig = _sigmoid(d)
        grad = (score - count * sig) @ onehot + prior * (0.5 - _sigmoid(s))
        w = count * sig * (1.0 - sig)  # (B, P) curvature per pair
        hess = -np.einsum("bp,pk,pl->bkl", w, onehot, onehot)
        sp = _sigmoid(s)
        hess[:, np.arange(k), np.arange(k)] -= prior * sp * (1.0 - sp)
        step = -np.einsum("bkl,bl->bk", np.linalg.pinv(hess, hermitian=True), grad)
        if np.abs(step).max() < 1e-10:
            break
        f0 = _objective(s, count, score, pi, pj, prior)
        slope = (grad * step).sum(1)
        cand = s[:, None, :] + steps[None, :, None] * step[:, None, :]  # (B, T, K)
        f = _objective(cand.reshape(-1, k), np.repeat(count, len(steps), 0), np.repeat(score, len(steps), 0),
                       pi, pj, prior).reshape(b, len(steps))
        ok = f >= f0[:, None] + 1e-4 * steps[None, :] * slope[:, None] - 1e-12
        first = np.where(ok.any(1), ok.argmax(1), len(steps) - 1)
        s = cand[np.arange(b), first]
    return s


def _to_elo(s: np.ndarray, models: list[str], anchor: str | None) -> np.ndarray:
    if anchor is None:
        center = s.mean(1, keepdims=True)
    else:
        if anchor not in models:
            raise ValueError(f"anchor {anchor!r} is not among the compared models {models}")
        center = s[:, [models.index(anchor)]]
    return BASE + ELO_PER_NAT * (s - center)


def _pair_totals(pairs: _Pairs, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-pair (count, score) for each row of ``weights`` (B, n_comparisons)."""
    k = len(pairs.models)
    key = pairs.i * k + pairs.j
    uniq, inverse = np.unique(key, return_inverse=True)
    member = np.zeros((len(key), len(uniq)))
    member[np.arange(len(key)), inverse] = 1.0
    return weights @ member, (weights * pairs.score) @ member, uniq // k, uniq % k


def fit_bradley_terry(comparisons: Iterable[Sequence], anchor: str | None = None,
                      iters: int = 100, prior: float = 1.0) -> dict[str, float]:
    """Elo rating per model from ``(model_a, model_b, p)`` comparisons.

    ``[("A", "B", 0.75)] * 100 + [("B", "C", 0.75)] * 100`` with ``prior=0``
    gives ``{"A": 1190.8, "B": 1000.0, "C": 809.2}``: each gap is
    400*log10(3); the default prior pulls A and C in by 2.3 points.
    ``prior`` is the number of virtual ties each model plays against a fixed
    reference (see the module docstring); use 0 only when no model won or
    lost everything, or its rating will run off to infinity.
    """
    if prior < 0:
        raise ValueError("prior must be >= 0")
    pairs = _index(comparisons)
    count, score, pi, pj = _pair_totals(pairs, np.ones((1, len(pairs.score))))
    s = _newton(count, score, pi, pj, len(pairs.models), prior, iters)
    elo = _to_elo(s, pairs.models, anchor)[0]
    return {m: float(e) for m, e in zip(pairs.models, elo)}


def bootstrap_elo(comparisons: Iterable[Sequence], n_boot: int = 1000, seed: int = 0, anchor: str | None = None,
                  alpha: float = 0.05, iters: int = 100, prior: float = 1.0) -> dict[str, dict[str, float]]:
    """``{model: {"elo", "lo", "hi"}}``: the full-data fit and a percentile interval.

    Each replicate resamples the comparisons with replacement (a multinomial
    weight per comparison) and refits; ``lo``/``hi`` are the ``alpha/2`` and
    ``1 - alpha/2`` percentiles of the replicates' ratings. Intervals are for
    ratings on this run's scale: with an anchor, the anchor's is [1000, 1000]
    and the others' measure the gap to it.
    """
    comparisons = list(comparisons)
    point = fit_bradley_terry(comparisons, anchor=anchor, iters=iters, prior=prior)
    pairs = _index(comparisons)
    n = len(pairs.score)
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)
    out = np.empty((n_boot, len(pairs.models)))
    for start in range(0, n_boot, 250):  # chunks keep the (B, P, K, K) temporaries small
        count, score, pi, pj = _pair_totals(pairs, weights[start:start + 250])
        s = _newton(count, score, pi, pj, len(pairs.models), prior, iters)
        out[start:start + 250] = _to_elo(s, pairs.models, anchor)
    lo, hi = np.percentile(out, [100 * alpha / 2, 100 * (1 - alpha / 2)], axis=0)
    return {m: {"elo": point[m], "lo": float(lo[k]), "hi": float(hi[k])} for k, m in enumerate(pairs.models)}
