"""Evaluation: suites, judges, ratings, rates with intervals, the CI regression gate, the report.

- ``suites``: the packaged held-out suites (harmful, helpful, benign look-alikes, jailbreaks) and user suites.
- ``answers``: each model's timed answers, kept in a record store so evaluations resume.
- ``judges``: refusal classifier (patterns + learned), harm scorer (0-4, model-graded), pairwise judge;
  each measured on a packaged labeled set.
- ``scoring`` / ``pairwise`` / ``assemble``: per-model metrics, Elo from pairwise judgments, ``metrics.json``.
- ``elo``: Bradley–Terry ratings (Elo scale) from soft pairwise comparisons, with bootstrap intervals.
- ``stats``: Wilson intervals for rates, percentiles.
- ``metrics``: the ``metrics.json`` schema line, metric names, number formats.
- ``gate``: compare two ``metrics.json`` files against thresholds; exit code for CI.
- ``report``: ``metrics.json`` + ``report.md`` + a self-contained ``report.html``.
- ``calibrate``: several models or endpoints on the user's own prompts, with a CSV.
The ``eval`` stage (``stages/eval.py``) wires them together for a run.
"""

from constitutional.eval.answers import answer_suites
from constitutional.eval.assemble import build_metrics, judged_rows
from constitutional.eval.calibrate import calibrate
from constitutional.eval.elo import Comparison, bootstrap_elo, fit_bradley_terry
from constitutional.eval.gate import GateResult, GateRow, GateSpec, Rule, check_gate, gate_main, load_gate, render_gate
from constitutional.eval.judges import HarmScorer, PairwiseJudge, RefusalClassifier, default_classifier
from constitutional.eval.metrics import METRICS, SCHEMA, load_metrics
from constitutional.eval.report import write_report
from constitutional.eval.scoring import Row, summarize
from constitutional.eval.stats import percentile, rate_ci
from constitutional.eval.suites import Suite, default_suites, load_jailbreaks

__all__ = [
    "METRICS", "SCHEMA", "Comparison", "GateResult", "GateRow", "GateSpec", "HarmScorer", "PairwiseJudge",
    "RefusalClassifier", "Row", "Rule", "Suite", "answer_suites", "bootstrap_elo", "build_metrics", "calibrate",
    "check_gate", "default_classifier", "default_suites", "fit_bradley_terry", "gate_main", "judged_rows",
    "load_gate", "load_jailbreaks", "load_metrics", "percentile", "rate_ci", "render_gate", "summarize",
    "write_report",
]
