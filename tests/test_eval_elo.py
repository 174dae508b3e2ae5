import math
import time

import numpy as np
import pytest

from constitutional.eval.elo import ELO_PER_NAT, bootstrap_elo, fit_bradley_terry

GAP = 400 * math.log10(3)  # 190.85


def chain(n: int) -> list[tuple[str, str, float]]:
    return [("A", "B", 0.75)] * n + [("B", "C", 0.75)] * n


def test_three_model_chain_worked_by_hand():
    """A beats B with p=0.75 on every comparison, B beats C with p=0.75.

    The MLE matches each pair's observed rate: sigmoid(s_A - s_B) = 0.75, so
    s_A - s_B = ln(0.75/0.25) = ln 3 = 1.0986 nats (strength ratio 3), likewise
    B - C. On the Elo scale that is 400/ln10 * ln 3 = 400*log10(3) = 190.85
    points. Mean-centred on 1000: A = 1190.85, B = 1000, C = 809.15.

    The default prior (one virtual tie per model against a reference at the
    mean) pulls A and C in by about prior/n of their distance: at n=1000
    comparisons per pair that is ~0.2 points, inside the 1-point tolerance.
    """
    exact = fit_bradley_terry(chain(100), prior=0)
    assert exact["A"] == pytest.approx(1000 + GAP, abs=0.01)
    assert exact["B"] == pytest.approx(1000, abs=0.01)
    assert exact["C"] == pytest.approx(1000 - GAP, abs=0.01)
    with_prior = fit_bradley_terry(chain(1000))
    for m in "ABC":
        assert with_prior[m] == pytest.approx(exact[m], abs=1.0)
    assert ELO_PER_NAT * math.log(3) == pytest.approx(GAP)


def test_anchor_fixes_that_model_at_1000_and_keeps_gaps():
    r = fit_bradley_terry(chain(100), anchor="C", prior=0)
    assert r["C"] == pytest.approx(1000)
    assert r["B"] == pytest.approx(1000 + GAP, abs=0.01) and r["A"] == pytest.approx(1000 + 2 * GAP, abs=0.01)
    boot = bootstrap_elo(chain(50), n_boot=100, anchor="C")
    assert boot["C"] == {"elo": pytest.approx(1000), "lo": pytest.approx(1000), "hi": pytest.approx(1000)}
    with pytest.raises(ValueError, match="anchor"):
        fit_bradley_terry(chain(10), anchor="Z")


def test_which_side_a_comparison_is_written_on_does_not_matter():
    rng = np.random.default_rng(3)
    comps = [(a, b, float(p)) for a, b, p in zip(rng.choice(list("WXYZ"), 200), rng.choice(list("WXYZ"), 200),
                                                 rng.random(200)) if a != b]
    flipped = [(b, a, 1 - p) if k % 2 else (a, b, p) for k, (a, b, p) in enumerate(comps)]
    r1, r2 = fit_bradley_terry(comps), fit_bradley_terry(flipped)
    assert r1 == pytest.approx(r2, abs=1e-6)
    b1, b2 = bootstrap_elo(comps, n_boot=200, seed=5), bootstrap_elo(flipped, n_boot=200, seed=5)
    for m in r1:
        assert b1[m] == pytest.approx(b2[m], abs=1e-6)


def test_all_wins_stays_finite_thanks_to_the_prior():
    r = fit_bradley_terry([("A", "B", 1.0)] * 50 + [("B", "C", 1.0)] * 50)
    assert all(math.isfinite(v) for v in r.values())
    assert r["A"] > r["B"] > r["C"]
    assert sum(r.values()) / 3 == pytest.approx(1000)


def test_ties_give_equal_ratings():
    r = fit_bradley_terry([("A", "B", 0.5), ("B", "C", 0.5), ("C", "A", 0.5)] * 10)
    assert all(v == pytest.approx(1000) for v in r.values())


def test_bad_input_is_rejected():
    with pytest.raises(ValueError):
        fit_bradley_terry([("A", "B", 1.5)])
    with pytest.raises(ValueError):
        fit_bradley_terry([("A", "A", 1.0)])
    with pytest.raises(ValueError):
        fit_bradley_terry([])


def simulate(true: dict[str, float], n: int, rng) -> list[tuple[str, str, float]]:
    """Binary outcomes from P(a beats b) = 1 / (1 + 10^((R_b - R_a)/400))."""
    names, r = list(true), np.array(list(true.values()))
    a = rng.integers(0, len(names), n)
    b = (a + rng.integers(1, len(names), n)) % len(names)
    won = rng.random(n) < 1 / (1 + 10 ** ((r[b] - r[a]) / 400))
    return [(names[i], names[j], float(w)) for i, j, w in zip(a, b, won)]


def test_bootstrap_intervals_cover_the_true_ratings():
    """50 datasets of 400 games from known ratings (mean 1000, as the fit
    reports them); a 95% interval should contain the truth about 95% of the
    time; we require 85% to allow for the percentile bootstrap's small-sample
    undercoverage and for 200 (not 1000) resamples."""
    true = {"A": 850.0, "B": 970.0, "C": 1040.0, "D": 1140.0}
    rng = np.random.default_rng(1)
    hits = total = 0
    for d in range(50):
        ci = bootstrap_elo(simulate(true, 400, rng), n_boot=200, seed=d)
        for m, r in true.items():
            assert ci[m]["lo"] <= ci[m]["elo"] <= ci[m]["hi"]
            hits += ci[m]["lo"] <= r <= ci[m]["hi"]
            total += 1
    assert hits / total >= 0.85


def test_bootstrap_is_fast_enough_for_the_report():
    comps = simulate({"a": 900.0, "b": 1000.0, "c": 1050.0, "d": 1100.0, "e": 950.0}, 1000, np.random.default_rng(0))
    start = time.perf_counter()
    out = bootstrap_elo(comps, n_boot=1000)
    assert time.perf_counter() - start < 10  # ~0.2 s on one idle core
    assert set(out) == set("abcde") and all(v["hi"] - v["lo"] > 10 for v in out.values())
