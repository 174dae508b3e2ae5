"""The ``metrics.json`` file: its schema line, its metric names, how to print them.

One catalogue of summary metrics serves the gate (which names are valid,
which are rates), the report (column titles) and both renderers (formats),
so a number reads the same in CI logs, Markdown and HTML:
rates ``40.0%``, Elo ``1012``, intervals ``[lo, hi]`` in the same unit.

A metric is a *rate* when its name ends in ``_rate`` or ``_asr``: a fraction
in [0, 1], shown in percent, and compared by the gate in percentage points.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NamedTuple

from constitutional.core.errors import ConstitutionalError
from constitutional.core.yamlio import read_text

SCHEMA = "constitutional.metrics/1"
MISSING = "—"


class Metric(NamedTuple):
    title: str  # column header
    kind: str  # "rate", "elo", "seconds" or "number"
    help: str  # one line for the report's legend


METRICS: dict[str, Metric] = {
    "refusal_rate": Metric("Refusal (harmful)", "rate", "share of harmful prompts the model refused"),
    "partial_refusal_rate": Metric("Partial refusal", "rate", "share of harmful prompts answered in part"),
    "over_refusal_rate": Metric("Over-refusal (benign)", "rate", "share of benign prompts the model refused"),
    "jailbreak_asr": Metric("Jailbreak ASR", "rate", "share of jailbreak attempts that got a harmful answer"),
    "harm_score": Metric("Harm score", "number", "mean harm of answers to harmful prompts (lower is better)"),
    "helpfulness_elo": Metric("Helpfulness Elo", "elo", "Bradley–Terry rating from pairwise helpfulness judgments"),
    "harmlessness_elo": Metric("Harmlessness Elo", "elo", "Bradley–Terry rating from pairwise harmlessness judgments"),
    "latency_p50_s": Metric("Latency p50", "seconds", "median seconds per response"),
    "latency_p95_s": Metric("Latency p95", "seconds", "95th-percentile seconds per response"),
    "tokens_per_response": Metric("Tokens / response", "number", "mean generated tokens per response"),
    "alternative_rate": Metric("Offers alternative", "rate", "share of refusals that offer a safe alternative or a "
                               "pointer to help (a re-offer of the request does not count)"),
    "refusal_words": Metric("Refusal words", "number", "mean words in a refusal"),
}


def is_rate(metric: str) -> bool:
    return metric.endswith(("_rate", "_asr"))


def _kind(metric: str) -> str:
    if metric in METRICS:
        return METRICS[metric].kind
    return "rate" if is_rate(metric) else "elo" if metric.endswith("_elo") else "number"


def _number(v: float) -> str:
    a = abs(v)
    return f"{v:.0f}" if a >= 100 else f"{v:.1f}" if a >= 10 else f"{v:.2f}"


def _bare(metric: str, v: float) -> str:
    """The value in the metric's display unit, without the unit sign."""
    kind = _kind(metric)
    if kind == "rate":
        return f"{100 * v:.1f}"
    if kind == "elo":
        return f"{v:.0f}"
    return _number(v)


def _known(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)


def fmt_value(metric: str, v, missing: str = MISSING) -> str:
    """``fmt_value("refusal_rate", 0.4) -> "40.0%"``, Elo ``"1012"``, seconds ``"1.20 s"``."""
    if not _known(v):
        return missing
    kind = _kind(metric)
    unit = "%" if kind == "rate" else " s" if kind == "seconds" else ""
    return _bare(metric, v) + unit


def fmt_pct(v, missing: str = MISSING) -> str:
    """A fraction in percent: ``fmt_pct(0.912) -> "91.2%"``."""
    return fmt_value("_rate", v, missing)


def fmt_interval(metric: str, lo, hi) -> str:
    """``fmt_interval("refusal_rate", 0.321, 0.483) -> "[32.1, 48.3]"``; empty if unknown."""
    if not (_known(lo) and _known(hi)):
        return ""
    return f"[{_bare(metric, lo)}, {_bare(metric, hi)}]"


def fmt_with_interval(metric: str, v, interval=None, missing: str = MISSING) -> str:
    """``"40.0% [32.1, 48.3]"``: the value, then its interval when there is one."""
    text = fmt_value(metric, v, missing)
    if _known(v) and interval and len(interval) == 2:
        ci = fmt_interval(metric, *interval)
        text = f"{text} {ci}" if ci else text
    return text


def fmt_change(metric: str, delta) -> str:
    """Signed change: ``"-2.5 pts"`` for rates (percentage points), ``"+12"`` for Elo."""
    if not _known(delta):
        return MISSING
    if is_rate(metric):
        return f"{100 * delta:+.1f} pts"
    sign = "+" if delta >= 0 else "-"
    return sign + _bare(metric, abs(delta))


def load_metrics(path: str | Path) -> dict:
    """Read a ``metrics.json`` and check its schema line before anything trusts it."""
    path = Path(path)
    if not path.is_file():
        raise ConstitutionalError("file not found", file=path, hint="run the evaluation first, or check the path")
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise ConstitutionalError(f"not valid JSON: {e.msg}", file=path, line=e.lineno) from None
    except RecursionError:
        raise ConstitutionalError("JSON nested too deeply", file=path) from None
    check_metrics(data, path)
    return data


def check_metrics(data, source: str | Path = "metrics") -> None:
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        got = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ConstitutionalError(f"not a metrics file (schema {got!r})", file=source, field="schema",
                                  hint=f"expected schema {SCHEMA!r}, as written by the evaluator")
    if not isinstance(data.get("models"), dict) or not data["models"]:
        raise ConstitutionalError("no models in the metrics file", file=source, field="models",
                                  hint="the evaluator writes one entry per evaluated model")
    for label, model in data["models"].items():
        summary = model.get("summary") if isinstance(model, dict) else None
        if not isinstance(summary, dict):
            raise ConstitutionalError("a model entry needs a 'summary' mapping", file=source, field=f"models.{label}")
        for metric, v in summary.items():
            where = dict(file=source, field=f"models.{label}.summary.{metric}")
            if v is None or isinstance(v, str):
                continue  # not measured, or a label: a rule on it fails as missing
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ConstitutionalError(f"{v!r} is not a finite number", **where,
                                          hint="the file is corrupt or hand-edited; rerun the evaluation")
            if is_rate(metric) and not 0 <= v <= 1:
                raise ConstitutionalError(f"{v!r} is not a rate between 0 and 1", **where,
                                          hint="rates are fractions (0.6, not 60)")


def model_labels(metrics: dict) -> list[str]:
    return list(metrics.get("models", {}))


def summary_of(metrics: dict, label: str) -> dict:
    """The model's summary, with Elo filled in from ``metrics["elo"]`` when the summary lacks it."""
    model = metrics.get("models", {}).get(label, {})
    summary = dict(model.get("summary") or {})
    for kind, table in (metrics.get("elo") or {}).items():
        row = (table or {}).get(label)
        if row and summary.get(f"{kind}_elo") is None:
            summary[f"{kind}_elo"] = row.get("elo")
    return summary


def interval_of(metrics: dict, label: str, metric: str) -> list | None:
    """``[lo, hi]`` from the model's ``intervals``, or from ``metrics["elo"]`` for Elo."""
    model = metrics.get("models", {}).get(label, {})
    ci = (model.get("intervals") or {}).get(metric)
    if ci:
        return list(ci)
    if metric.endswith("_elo"):
        row = (metrics.get("elo") or {}).get(metric[:-4], {}).get(label)
        if row and _known(row.get("lo")) and _known(row.get("hi")):
            return [row["lo"], row["hi"]]
    return None
