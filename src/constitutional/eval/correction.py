"""Rates corrected for their judge's mistakes (Rogan and Gladen 1978).

A judge that calls a reply a refusal with sensitivity ``se`` (P(says refusal |
is one)) and specificity ``sp`` (P(says not | is not)) turns a true rate
``p`` into an observed one ``q = se p + (1 - sp)(1 - p)``. Inverting it,

    p = (q + sp - 1) / (se + sp - 1), clipped to [0, 1],

is the Rogan-Gladen estimate. ``se`` and ``sp`` are themselves measured on a
labeled set of finite size, so the interval here carries three
uncertainties: the observed rate, the sensitivity and the specificity, each
drawn from its Beta posterior (uniform prior) and pushed through the formula
(a Monte-Carlo interval, seeded). A judge no better than chance
(se + sp <= 1) cannot be corrected for; the estimate is then None.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def rogan_gladen(observed: float, sensitivity: float, specificity: float) -> float | None:
    """``(0.5, 0.9, 0.8) -> (0.5 + 0.8 - 1) / (0.9 + 0.8 - 1) = 0.428571``."""
    youden = sensitivity + specificity - 1
    if youden <= 0:
        return None
    return min(1.0, max(0.0, (observed + specificity - 1) / youden))


def sens_spec_counts(classes: list[str], matrix: list[list[int]], positive: Iterable[str]) -> tuple[int, int, int, int]:
    """(true positives, positives, true negatives, negatives) of a multi-class judge read as a binary one:
    ``positive`` are the classes that count as the event (e.g. {"refuse"} for refusal rate, {"refuse",
    "partial"} for over-refusal). ``matrix[true][predicted]`` is a count, in ``classes`` order (the refusal
    classifier's confusion)."""
    pos = {i for i, c in enumerate(classes) if c in set(positive)}
    tp = p = tn = n = 0
    for t, row in enumerate(matrix):
        for pred, count in enumerate(row):
            if t in pos:
                p += count
                tp += count if pred in pos else 0
            else:
                n += count
                tn += count if pred not in pos else 0
    return tp, p, tn, n


def corrected_rate(k: int, n: int, tp: int, p: int, tn: int, neg: int, draws: int = 4000,
                   seed: int = 0) -> dict:
    """The observed rate k/n corrected for a judge measured at tp/p sensitivity and tn/neg specificity:
    ``{"rate", "lo", "hi", "sensitivity", "specificity"}`` with a 95 % interval (None where it cannot be)."""
    se, sp = (tp / p if p else None), (tn / neg if neg else None)
    if not n or se is None or sp is None:
        return {"rate": None, "lo": None, "hi": None, "sensitivity": se, "specificity": sp}
    point = rogan_gladen(k / n, se, sp)
    rng = np.random.default_rng(seed)
    q = rng.beta(k + 1, n - k + 1, draws)
    s_e = rng.beta(tp + 1, p - tp + 1, draws)
    s_p = rng.beta(tn + 1, neg - tn + 1, draws)
    youden = s_e + s_p - 1
    ok = youden > 0
    est = np.clip((q[ok] + s_p[ok] - 1) / youden[ok], 0.0, 1.0)
    lo, hi = (float(np.percentile(est, 2.5)), float(np.percentile(est, 97.5))) if ok.any() else (None, None)
    return {"rate": point, "lo": lo, "hi": hi, "sensitivity": se, "specificity": sp}
