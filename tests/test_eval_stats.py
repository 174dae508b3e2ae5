import pytest

from constitutional.eval.metrics import fmt_change, fmt_interval, fmt_value, fmt_with_interval
from constitutional.eval.stats import percentile, rate_ci


def test_wilson_interval_worked_by_hand():
    """k=8, n=10, z=1.96: centre (8 + 1.92)/(10 + 3.84) = 0.7168, half-width
    1.96*sqrt(1.6 + 0.96)/13.84 = 0.2266, so [0.490, 0.943] (the normal
    approximation would give [0.552, 1.048], past 100%)."""
    ci = rate_ci(8, 10)
    assert ci["value"] == 0.8 and ci["n"] == 10
    assert ci["lo"] == pytest.approx(0.4902, abs=1e-4) and ci["hi"] == pytest.approx(0.9433, abs=1e-4)


def test_wilson_edges():
    zero, full = rate_ci(0, 20), rate_ci(20, 20)
    assert zero["lo"] == 0 and 0.1 < zero["hi"] < 0.2  # not a zero-width interval at 0%
    assert full["hi"] == 1 and 0.8 < full["lo"] < 0.9
    assert rate_ci(0, 0) == {"value": None, "lo": None, "hi": None, "n": 0}
    with pytest.raises(ValueError):
        rate_ci(3, 2)


def test_percentile_ignores_missing_values():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([1.0, None, 3.0], 100) == 3.0
    assert percentile([], 95) is None


def test_number_formats():
    assert fmt_value("refusal_rate", 0.4) == "40.0%"
    assert fmt_value("helpfulness_elo", 1012.4) == "1012"
    assert fmt_value("latency_p95_s", 1.234) == "1.23 s"
    assert fmt_value("refusal_rate", None) == "—"
    assert fmt_interval("refusal_rate", 0.321, 0.483) == "[32.1, 48.3]"
    assert fmt_with_interval("harmlessness_elo", 1010.2, [985.4, 1034.6]) == "1010 [985, 1035]"
    assert fmt_change("over_refusal_rate", -0.025) == "-2.5 pts"
    assert fmt_change("helpfulness_elo", 12.2) == "+12"
