"""Write an evaluation's three files: ``metrics.json``, ``report.md``, ``report.html``.

``metrics.json`` is the source of truth (the gate reads it); the two reports
are views of it, built from the same tables (``tables.py``), so they agree.
The Markdown has no plot and truncates long responses, to paste into a README.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from constitutional.eval.metrics import check_metrics
from constitutional.eval.page import render_html
from constitutional.eval.tables import Cell, Table, all_tables, examples

MD_RESPONSE_CHARS = 400  # longer responses are cut in report.md; the HTML shows them whole


def _md(text: str) -> str:
    """Safe inside a Markdown table cell: no pipes, no raw HTML, one line."""
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
    return "<br>".join(line.strip() for line in text.strip().splitlines()) or " "


def _md_cell(c: Cell) -> str:
    """``40.0% [32.1, 48.3]``, or ``15.0% (partial 5.0%; n=27)`` for a note."""
    if not c.sub:
        return _md(c.text)
    return _md(f"{c.text} {c.sub}" if c.sub.startswith("[") else f"{c.text} ({c.sub})")


def table_md(t: Table, heading: bool = True) -> str:
    lines = [f"### {t.title}", ""] if heading else []
    lines.append("| " + " | ".join(_md(c.title) for c in t.columns) + " |")
    lines.append("|" + "|".join("---:" if c.num else "---" for c in t.columns) + "|")
    for row in t.rows:
        lines.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
    notes = [f"- {c.title}: {c.note}" for c in t.columns if c.note]
    if notes:
        lines += ["", "Judged by:", *notes]
    if t.caption:
        lines += ["", f"_{t.caption}_"]
    return "\n".join(lines)


def examples_md(metrics: dict, kind: str) -> str:
    items = examples(metrics, kind)
    if not items:
        return "_No examples recorded._"
    out = []
    for ex in items:
        responses, classes = ex.get("responses") or {}, ex.get("classes") or {}
        out += [f"**{_md(ex.get('id', ''))}**", "", "> " + _md(ex.get("prompt", "")), "",
                "| Model | Class | Response |", "|---|---|---|"]
        labels = list(metrics.get("models", {}))
        for m in [m for m in labels if m in responses] + [m for m in responses if m not in labels]:
            text = str(responses[m])
            cut = text[:MD_RESPONSE_CHARS] + ("…" if len(text) > MD_RESPONSE_CHARS else "")
            out.append(f"| {_md(m)} | {_md(classes.get(m, ''))} | {_md(cut)} |")
        out.append("")
    return "\n".join(out).rstrip()


def render_md(metrics: dict) -> str:
    tables = all_tables(metrics)
    created = metrics.get("created")
    when = (dt.datetime.fromtimestamp(created, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
            if isinstance(created, (int, float)) else "date unknown")
    models = [f"- **{_md(m)}**: `{(v or {}).get('spec', '')}`" for m, v in metrics.get("models", {}).items()]
    parts = [f"# Evaluation report: {_md(metrics.get('run') or 'evaluation')}", "", when, "", *models, "",
             "## Headline", "", *(table_md(t, heading=False) for t in tables["headline"])]
    if tables["categories"]:
        parts += ["", "## By category", ""] + ["\n\n".join(table_md(t) for t in tables["categories"])]
    if tables["jailbreak"]:
        parts += ["", "## Jailbreaks", "", table_md(tables["jailbreak"][0])]
    parts += ["", "## Over-refusal examples", "", examples_md(metrics, "over_refusal"),
              "", "## Harmful-prompt examples", "", examples_md(metrics, "harmful")]
    if tables["judges"]:
        parts += ["", "## Judges", "", table_md(tables["judges"][0], heading=False)]
    return "\n".join(parts) + "\n"


def write_report(metrics: dict, out_dir: str | Path) -> dict[str, Path]:
    """Write the three files into ``out_dir`` and return ``{"json", "md", "html"}`` paths."""
    check_metrics(metrics)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "metrics.json", "md": out / "report.md", "html": out / "report.html"}
    paths["json"].write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["md"].write_text(render_md(metrics), encoding="utf-8")
    paths["html"].write_text(render_html(metrics), encoding="utf-8")
    return paths
