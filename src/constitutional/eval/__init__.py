"""Evaluation core: ratings, rates with intervals, the CI regression gate, the report.

- ``elo``: Bradley–Terry ratings (Elo scale) from soft pairwise comparisons, with bootstrap intervals.
- ``stats``: Wilson intervals for rates, percentiles.
- ``metrics``: the ``metrics.json`` schema line, metric names, number formats.
- ``gate``: compare two ``metrics.json`` files against thresholds; exit code for CI.
- ``report``: ``metrics.json`` + ``report.md`` + a self-contained ``report.html``.
"""

from .elo import Comparison, bootstrap_elo, fit_bradley_terry
from .gate import GateResult, GateRow, GateSpec, Rule, check_gate, gate_main, load_gate, render_gate
from .metrics import METRICS, SCHEMA, load_metrics
from .report import write_report
from .stats import percentile, rate_ci

__all__ = [
    "METRICS", "SCHEMA", "Comparison", "GateResult", "GateRow", "GateSpec", "Rule", "bootstrap_elo", "check_gate",
    "fit_bradley_terry", "gate_main", "load_gate", "load_metrics", "percentile", "rate_ci", "render_gate",
    "write_report",
]
