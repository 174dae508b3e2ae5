"""Small statistics the evaluator and the report share.

Rates come with Wilson score intervals rather than the textbook
``p +- 1.96 sqrt(p(1-p)/n)``: our suites are small (tens of prompts per
category) and rates near 0 or 1 are the interesting ones, where the normal
approximation gives intervals below 0 or of zero width (Brown, Cai &
DasGupta 2001 recommend Wilson for exactly this regime).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

Z95 = 1.959963984540054  # two-sided 95 % normal quantile


def rate_ci(k: float, n: int, z: float = Z95) -> dict:
    """Wilson interval for ``k`` successes in ``n`` trials.

    Worked example: k=8, n=10 -> p=0.8, centre (8 + 1.92)/(10 + 3.84) = 0.717,
    half-width 1.96*sqrt(10*0.8*0.2 + 0.96)/13.84 = 0.227, so
    ``{"value": 0.8, "lo": 0.490, "hi": 0.943, "n": 10}``. With n=0 every
    number is None: "not measured" must not read as 0 %.
    """
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return {"value": None, "lo": None, "hi": None, "n": 0}
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return {"value": p, "lo": max(0.0, centre - half), "hi": min(1.0, centre + half), "n": n}


def percentile(values: Iterable[float | None], q: float) -> float | None:
    """The ``q``-th percentile (0-100, linear interpolation) of the non-null values.

    ``percentile([1, 2, 3, 4], 50) -> 2.5``; ``percentile([], 95) -> None``
    (latency of a model that answered nothing is unknown, not zero).
    """
    xs = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not xs:
        return None
    return float(np.percentile(xs, q))


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the non-null values, None if there are none."""
    xs = [float(v) for v in values if v is not None]
    return sum(xs) / len(xs) if xs else None
