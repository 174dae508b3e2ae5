"""Rule-based rewards' weight fit (Mu et al. 2024), as a pure function.

The total reward of a reply in category c is ``base + w_c . phi``: the reward
model's score plus the weighted probabilities of the rule propositions
("refuses", "judgmental", ...). Each category ranks classes of replies
(best first, ties in one tier); the weights are fitted so that, within each
prompt, a reply of a better tier outscores one of a worse tier by a margin:

    L(w) = mean over (better, worse) pairs of max(0, margin + R(worse) - R(better)) + l2 * |w|^2

which is the hinge loss of OpenAI's released RBR weight fitter, minimized here
by full-batch subgradient descent from w = 0 (a convex problem: the answer
does not depend on the seed). Only the weights move; the reward model is fixed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RankedReply:
    group: str  # the prompt the reply answers: only replies to the same prompt are compared
    category: str
    tier: int  # 0 = the category's best class
    base: float  # the reward model's score (0 without one)
    features: tuple[float, ...]  # proposition probabilities, in the rule set's order


def comparisons(replies: Sequence[RankedReply]) -> list[tuple[int, int]]:
    """(better, worse) index pairs: same group, strictly better tier."""
    out = []
    for i, a in enumerate(replies):
        for j, b in enumerate(replies):
            if a.group == b.group and a.tier < b.tier:
                out.append((i, j))
    return out


def hinge_loss(weights: dict[str, np.ndarray], replies: Sequence[RankedReply], margin: float, l2: float) -> float:
    pairs = comparisons(replies)
    if not pairs:
        return 0.0
    r = [rep.base + float(weights[rep.category] @ np.asarray(rep.features)) for rep in replies]
    hinge = sum(max(0.0, margin + r[j] - r[i]) for i, j in pairs) / len(pairs)
    return hinge + l2 * sum(float(w @ w) for w in weights.values())


def fit_weights(replies: Sequence[RankedReply], n_features: int, margin: float = 1.0, l2: float = 0.0,
                lr: float = 0.5, steps: int = 500) -> dict[str, np.ndarray]:
    """One weight vector per category minimizing ``hinge_loss``.

    Worked example (also the test): one prompt, two replies of equal base score, the better with
    phi = (1, 0), the worse with phi = (0, 1), margin 1, no l2. The loss is max(0, 1 - w1 + w2); each step
    while it is positive adds lr to w1 and subtracts lr from w2, so with lr 0.25 two steps reach
    w = (0.5, -0.5), where the loss is 0 and the fit stops moving."""
    weights = {c: np.zeros(n_features) for c in sorted({r.category for r in replies})}
    pairs = comparisons(replies)
    if not pairs:
        return weights
    feats = [np.asarray(r.features, dtype=float) for r in replies]
    for _ in range(steps):
        r = [rep.base + float(weights[rep.category] @ f) for rep, f in zip(replies, feats)]
        grads = {c: 2 * l2 * w for c, w in weights.items()}
        active = 0
        for i, j in pairs:
            if margin + r[j] - r[i] > 0:
                active += 1
                grads[replies[j].category] += feats[j] / len(pairs)
                grads[replies[i].category] -= feats[i] / len(pairs)
        if not active and not l2:
            break
        for c in weights:
            weights[c] = weights[c] - lr * grads[c]
    return weights


def pairwise_accuracy(weights: dict[str, np.ndarray], replies: Sequence[RankedReply]) -> float | None:
    """Share of (better, worse) comparisons the total reward orders right."""
    pairs = comparisons(replies)
    if not pairs:
        return None
    r = [rep.base + float(weights[rep.category] @ np.asarray(rep.features)) for rep in replies]
    return sum(r[i] > r[j] for i, j in pairs) / len(pairs)
