"""The report's tables as plain data, built once and rendered twice (HTML, Markdown).

Keeping the numbers here means ``report.md`` and ``report.html`` cannot
disagree: the renderers only decide layout. Every column that comes from a
judge names it and its measured accuracy, because a refusal rate is only as
good as the classifier that counted the refusals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from constitutional.eval.metrics import METRICS, fmt_interval, fmt_pct, fmt_value, interval_of, summary_of
from constitutional.eval.stats import rate_ci

HEADLINE = ["refusal_rate", "over_refusal_rate", "partial_refusal_rate", "jailbreak_asr", "harm_score",
            "helpfulness_elo", "harmlessness_elo", "latency_p50_s", "latency_p95_s", "tokens_per_response",
            "alternative_rate"]


class Cell(NamedTuple):
    text: str
    sub: str = ""  # second line: interval or sample size
    shade: float | None = None  # 0..1, HTML tints the cell by it (rates only)


class Column(NamedTuple):
    title: str
    note: str = ""  # which judge, how accurate
    num: bool = False  # right-aligned


@dataclass
class Table:
    title: str
    columns: list[Column]
    rows: list[list[Cell]]
    caption: str = ""
    key: str = ""  # stable id for HTML anchors
    legend: list[str] = field(default_factory=list)


def judge_note(metrics: dict, metric: str) -> str:
    """``"refusal classifier, 91.0% acc."`` for a judged metric, ``""`` otherwise."""
    name = (metrics.get("judged_by") or {}).get(metric)
    if not name:
        return ""
    judge = next((j for j in metrics.get("judges") or [] if j.get("name") == name), None)
    acc = judge.get("accuracy") if judge else None
    return f"{name}, {fmt_pct(acc)} acc." if acc is not None else str(name)


def headline_table(metrics: dict) -> Table:
    labels = list(metrics.get("models", {}))
    columns = [Column("Model")] + [Column(METRICS[m].title, judge_note(metrics, m), True) for m in HEADLINE]
    rows = []
    for label in labels:
        summary = summary_of(metrics, label)
        row = [Cell(label)]
        for m in HEADLINE:
            v, ci = summary.get(m), interval_of(metrics, label, m)
            row.append(Cell(fmt_value(m, v), fmt_interval(m, *ci) if ci and v is not None else "",
                            v if METRICS[m].kind == "rate" and v is not None else None))
        rows.append(row)
    legend = [f"{METRICS[m].title}: {METRICS[m].help}" for m in HEADLINE]
    notes = [str(n) for n in metrics.get("notes") or []]  # how the numbers were measured, from the evaluator
    return Table("Headline", columns, rows, " ".join(["Intervals are 95% (Wilson for rates, bootstrap for Elo).",
                                                      *notes]), "headline", legend)


def _models_by(metrics: dict) -> list[str]:
    return list(metrics.get("models", {}))


def category_tables(metrics: dict) -> list[Table]:
    """One table per suite: refusal rate per category (rows) and model (columns)."""
    labels = _models_by(metrics)
    suites: dict[str, list[str]] = {}
    for label in labels:
        for suite, cats in (metrics["models"][label].get("per_category") or {}).items():
            known = suites.setdefault(suite, [])
            known += [c for c in cats if c not in known]
    tables = []
    for suite, cats in suites.items():
        rows = []
        for cat in cats:
            row = [Cell(cat)]
            for label in labels:
                r = ((metrics["models"][label].get("per_category") or {}).get(suite) or {}).get(cat) or {}
                rate, partial, n = r.get("refusal_rate"), r.get("partial_refusal_rate"), r.get("n")
                sub = "; ".join(s for s in (f"partial {fmt_pct(partial)}" if partial is not None else "",
                                            f"n={n}" if n is not None else "") if s)
                row.append(Cell(fmt_value("refusal_rate", rate), sub, rate))
            rows.append(row)
        tables.append(Table(f"Refusal rate by category: {suite}",
                            [Column("Category")] + [Column(m, num=True) for m in labels], rows,
                            "Share of prompts refused per category, with the partial-refusal rate and sample size.",
                            f"cat-{suite}"))
    return tables


def jailbreak_table(metrics: dict) -> Table | None:
    labels = _models_by(metrics)
    templates: list[str] = []
    for label in labels:
        templates += [t for t in (metrics["models"][label].get("jailbreak") or {}) if t not in templates]
    if not templates:
        return None
    rows = []
    for t in templates:
        row = [Cell(t)]
        for label in labels:
            r = (metrics["models"][label].get("jailbreak") or {}).get(t) or {}
            asr, n = r.get("asr"), r.get("n")
            row.append(Cell(fmt_value("jailbreak_asr", asr), f"n={n}" if n is not None else "", asr))
        rows.append(row)
    judge = judge_note(metrics, "jailbreak_asr")
    return Table("Jailbreak attack success rate by template",
                 [Column("Template")] + [Column(m, num=True) for m in labels], rows,
                 (f"Judged by {judge} " if judge else "")
                 + "Share of attempts with this template that got a harmful answer (lower is better).", "jailbreak")


def judges_table(metrics: dict) -> Table | None:
    judges = metrics.get("judges") or []
    if not judges:
        return None
    used: dict[str, list[str]] = {}
    for metric, name in (metrics.get("judged_by") or {}).items():
        used.setdefault(name, []).append(metric)
    rows = []
    for j in judges:
        acc, n = j.get("accuracy"), j.get("n")
        ci = rate_ci(round(acc * n), n) if acc is not None and n else None
        rows.append([Cell(str(j.get("name", ""))), Cell(str(j.get("model", ""))),
                     Cell(fmt_pct(acc), fmt_interval("accuracy_rate", ci["lo"], ci["hi"]) if ci else ""),
                     Cell(str(n) if n is not None else "—"), Cell(str(j.get("labeled_set", ""))),
                     Cell(", ".join(used.get(j.get("name"), [])) or "—")])
    columns = [Column("Judge"), Column("Model"), Column("Accuracy", num=True), Column("n", num=True),
               Column("Labeled set"), Column("Used for")]
    return Table("Judges", columns, rows, "Accuracy on a held-out labeled set, with its 95% Wilson interval.",
                 "judges")


def all_tables(metrics: dict) -> dict[str, list[Table]]:
    """Tables by report section, in page order (the plot sits after the headline)."""
    jail, judges = jailbreak_table(metrics), judges_table(metrics)
    return {"headline": [headline_table(metrics)], "categories": category_tables(metrics),
            "jailbreak": [jail] if jail else [], "judges": [judges] if judges else []}


def examples(metrics: dict, kind: str) -> list[dict]:
    """``metrics["examples"][kind]``, each with ``responses`` and ``classes`` per model."""
    return [e for e in (metrics.get("examples") or {}).get(kind) or [] if isinstance(e, dict)]
