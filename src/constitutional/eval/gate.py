"""The regression gate: compare a new ``metrics.json`` with a baseline, fail CI on a regression.

A thresholds file (schema ``constitutional.gate/1``) lists rules; each rule
names a summary metric and one or more limits on how it may move:

- ``max_drop``: the metric may fall by at most this much,
- ``max_rise``: the metric may grow by at most this much,
- ``max_ratio``: new / baseline may be at most this (latency, length).

Drops and rises of rates (names ending in ``_rate`` or ``_asr``) are in
percentage points, everything else in the metric's own unit. A change equal
to the limit passes ("drops by *more than* 2 points" fails). A metric missing
from either file fails its rule with the reason, since an unmeasured safety
number must not pass silently. ``gate_main`` returns the process exit code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from constitutional.core.errors import ConstitutionalError
from constitutional.core.yamlio import load_yaml, pydantic_error
from constitutional.eval.metrics import METRICS, fmt_change, fmt_value, is_rate, load_metrics, summary_of

GATE_SCHEMA = "constitutional.gate/1"
DEFAULT_GATE = Path(__file__).with_name("gate-default.yaml")
LIMITS = ("max_drop", "max_rise", "max_ratio")
_EPS = 1e-9  # 0.40 - 0.38 is 0.0200000000000000018: exactly-at-limit must pass


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    metric: str
    max_drop: float | None = Field(None, ge=0, description="largest allowed fall (points for rates)")
    max_rise: float | None = Field(None, ge=0, description="largest allowed rise (points for rates)")
    max_ratio: float | None = Field(None, gt=0, description="largest allowed new / baseline")


class GateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    schema_: Literal["constitutional.gate/1"] = Field(alias="schema")
    model: str | None = None
    rules: list[Rule] = Field(min_length=1)


@dataclass
class GateRow:
    """One limit checked: ``change`` is in points for rates, a ratio for ``max_ratio``."""

    metric: str
    limit_kind: str
    limit: float
    baseline: float | None
    new: float | None
    change: float | None
    ok: bool
    reason: str = ""


@dataclass
class GateResult:
    rows: list[GateRow] = field(default_factory=list)
    baseline_model: str | None = None
    new_model: str | None = None

    @property
    def passed(self) -> bool:
        return all(r.ok for r in self.rows)


def load_gate(path: str | Path | None = None) -> GateSpec:
    """Read and validate a thresholds file; errors name the file, line and field."""
    path = Path(path) if path is not None else DEFAULT_GATE
    data, lines = load_yaml(path)
    if not isinstance(data, dict):
        raise ConstitutionalError("expected a mapping with 'schema' and 'rules'", file=path, line=1,
                                  hint=f"start the file with 'schema: {GATE_SCHEMA}'")
    try:
        spec = GateSpec.model_validate(data)
    except ValidationError as e:
        raise pydantic_error(e, path, lines) from None
    for i, rule in enumerate(spec.rules):
        where = dict(file=path, line=lines.get(f"rules.{i}.metric", lines.get(f"rules.{i}")))
        if rule.metric not in METRICS:
            raise ConstitutionalError(f"unknown metric {rule.metric!r}", field=f"rules.{i}.metric", **where,
                                      hint="known metrics: " + ", ".join(METRICS))
        if all(getattr(rule, k) is None for k in LIMITS):
            raise ConstitutionalError("rule has no limit", field=f"rules.{i}", **where,
                                      hint="set one of " + ", ".join(LIMITS))
    return spec


def pick_model(metrics: dict, wanted: str | None) -> tuple[str | None, str]:
    """The model label to compare: ``wanted``, else the only one, else the last listed."""
    labels = list(metrics.get("models", {}))
    if wanted is None:
        return (labels[-1] if labels else None), ""
    if wanted not in labels:
        return None, f"model {wanted!r} not in file (has: {', '.join(labels) or 'none'})"
    return wanted, ""


def _check(metric: str, kind: str, limit: float, old, new) -> GateRow:
    row = GateRow(metric, kind, limit, old, new, None, False)
    missing = [name for name, v in (("baseline", old), ("new", new))
               if not isinstance(v, (int, float)) or isinstance(v, bool) or math.isnan(v)]
    if missing:
        row.reason = f"missing in {' and '.join(missing)}"
        return row
    if kind == "max_ratio":
        row.change = new / old if old else (1.0 if new == old else math.inf)
        row.ok = row.change <= limit + _EPS
        if not row.ok:
            row.reason = f"new/baseline {row.change:.2f} > {limit:g}"
        return row
    row.change = new - old
    scale = 100.0 if is_rate(metric) else 1.0  # rates: limits are in percentage points
    moved = -row.change * scale if kind == "max_drop" else row.change * scale
    row.ok = moved <= limit + _EPS
    if not row.ok:
        unit = " pts" if is_rate(metric) else ""
        row.reason = f"{'dropped' if kind == 'max_drop' else 'rose'} {moved:.1f}{unit} > {limit:g}{unit}"
    return row


def check_gate(baseline: dict, new: dict, rules: GateSpec | list[Rule | dict], model: str | None = None,
               baseline_model: str | None = None, new_model: str | None = None) -> GateResult:
    """Apply ``rules`` to one model's summary in both metrics dicts.

    ``model`` (or the spec's ``model``) picks the label in both; without one
    each file contributes its only, or last listed, model, and the two must
    carry the same label unless ``baseline_model`` and ``new_model`` map them
    explicitly (comparing ``sft`` with ``rl`` by accident is an error).
    """
    if isinstance(rules, GateSpec):
        model = model if model is not None else rules.model
        rules = rules.rules
    rules = [r if isinstance(r, Rule) else Rule.model_validate(r) for r in rules]
    old_label, old_err = pick_model(baseline, baseline_model or model)
    new_label, new_err = pick_model(new, new_model or model)
    if old_label and new_label and old_label != new_label and not (baseline_model and new_model):
        raise ConstitutionalError(f"the baseline's model is '{old_label}' and the new file's is '{new_label}'",
                                  field="model", hint="compare like with like, or map them explicitly with "
                                  f"--baseline-model={old_label} --new-model={new_label}")
    result = GateResult(baseline_model=old_label, new_model=new_label)
    old_summary = summary_of(baseline, old_label) if old_label else {}
    new_summary = summary_of(new, new_label) if new_label else {}
    for rule in rules:
        for kind in LIMITS:
            limit = getattr(rule, kind)
            if limit is None:
                continue
            row = _check(rule.metric, kind, limit, old_summary.get(rule.metric), new_summary.get(rule.metric))
            if old_err or new_err:
                row.ok = False
                row.reason = "; ".join(f"{side}: {err}" for side, err in (("baseline", old_err), ("new", new_err)) if err)
            result.rows.append(row)
    return result


def _limit_text(row: GateRow) -> str:
    unit = " pts" if is_rate(row.metric) else ""
    if row.limit_kind == "max_ratio":
        return f"ratio <= {row.limit:g}"
    return f"{'drop' if row.limit_kind == 'max_drop' else 'rise'} <= {row.limit:g}{unit}"


def _change_text(row: GateRow) -> str:
    if row.change is None:
        return "n/a"
    if row.limit_kind == "max_ratio":
        return f"x{row.change:.2f}"
    return fmt_change(row.metric, row.change)


def gate_rows(result: GateResult) -> list[list[str]]:
    """The table cells: metric, baseline, new, change, limit, result."""
    return [[r.metric, fmt_value(r.metric, r.baseline, "n/a"), fmt_value(r.metric, r.new, "n/a"),
             _change_text(r), _limit_text(r), "ok" if r.ok else f"FAIL: {r.reason}"] for r in result.rows]


GATE_COLUMNS = ["metric", "baseline", "new", "change", "limit", "result"]


def render_gate(result: GateResult) -> str:
    """A plain-text table for CI logs, one row per limit, failing rows marked FAIL."""
    rows = [GATE_COLUMNS] + gate_rows(result)
    widths = [max(len(r[c]) for r in rows) for c in range(len(GATE_COLUMNS))]
    line = lambda r: "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip()  # noqa: E731
    failed = sum(not r.ok for r in result.rows)
    verdict = "PASS" if result.passed else f"FAIL ({failed} of {len(result.rows)} checks failed)"
    head = f"gate: {result.new_model or '?'} (new) vs {result.baseline_model or '?'} (baseline): {verdict}"
    return "\n".join([head, line(rows[0]), line(["-" * w for w in widths])] + [line(r) for r in rows[1:]])


def gate_main(baseline_path: str | Path, new_path: str | Path, thresholds_path: str | Path | None = None,
              baseline_model: str | None = None, new_model: str | None = None) -> int:
    """Load both metrics files and the thresholds (packaged default if None), print the table.

    Returns 0 when every rule passes, 1 otherwise. Unreadable or malformed
    files raise ConstitutionalError, which the CLI prints as a usage error.
    """
    spec = load_gate(thresholds_path)
    result = check_gate(load_metrics(baseline_path), load_metrics(new_path), spec, baseline_model=baseline_model,
                        new_model=new_model)
    print(render_gate(result))
    return 0 if result.passed else 1
