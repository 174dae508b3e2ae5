"""``report.html``: one self-contained page (inline CSS and SVG, no scripts, no URLs).

Laid out for a 1280 px window: the headline table's intervals sit on a
second line in each cell so twelve columns fit without scrolling, and the
side-by-side examples use one grid column per model. Every piece of text
from the run (prompts, responses, labels, judge names) goes through
``html.escape``: model outputs are untrusted and may contain markup.
"""

from __future__ import annotations

import datetime as dt
from html import escape

from constitutional.eval.plot import PALETTE, frontier_points, frontier_svg
from constitutional.eval.tables import Cell, Column, Table, all_tables, examples

CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111827;background:#fff;margin:0}
main{max-width:1240px;margin:0 auto;padding:24px 20px 48px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:19px;margin:36px 0 8px;padding-bottom:4px;border-bottom:2px solid #e5e7eb}
h3{font-size:15px;margin:20px 0 6px}
.meta{color:#4b5563;margin:0 0 12px}
.models{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0 0;padding:0;list-style:none}
.models li{background:#f3f4f6;border-radius:6px;padding:4px 10px}
.models code{font-size:12px;color:#374151}
table{border-collapse:collapse;margin:6px 0;font-size:13px;min-width:60%}
table.wide{width:100%}
th,td{border:1px solid #e5e7eb;padding:5px 7px;text-align:left;vertical-align:top}
th{background:#f3f4f6;font-weight:600}
th small{display:block;font-weight:400;color:#6b7280;font-size:11px}
td small{display:block;color:#6b7280;font-size:11px;white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tbody tr:nth-child(even) td.label{background:#fafafa}
.caption,.note{color:#4b5563;font-size:12px;margin:4px 0}
ul.legend{color:#4b5563;font-size:12px;columns:2;margin:6px 0;padding-left:18px}
.plot{display:flex;gap:24px;align-items:flex-start}
svg.frontier{background:#fff;flex:none}
.key{flex:1;min-width:0}.key table{width:100%}.key td.label{white-space:nowrap}
.dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:6px}
svg .tick{font-size:11px;fill:#4b5563}
svg .axis{font-size:13px;fill:#111827}
svg .pt{font-size:13px;font-weight:600}
.example{border:1px solid #e5e7eb;border-radius:8px;margin:12px 0;padding:10px 12px;background:#fcfcfd}
.prompt{background:#eff6ff;border-left:4px solid #2563eb;padding:6px 10px;white-space:pre-wrap;margin:0 0 8px}
.answers{display:grid;gap:10px}
.answer{border:1px solid #e5e7eb;border-radius:6px;padding:6px 8px;background:#fff;min-width:0}
.answer pre{white-space:pre-wrap;word-break:break-word;font:12.5px/1.4 ui-monospace,Menlo,Consolas,monospace;
  margin:4px 0 0;max-height:260px;overflow:auto}
.who{font-weight:600}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:11px;margin-left:6px;background:#e5e7eb}
.badge.refuse{background:#fee2e2;color:#991b1b}.badge.comply{background:#dcfce7;color:#166534}
.badge.partial{background:#fef3c7;color:#92400e}
"""


def _cell(cell: Cell, column: Column) -> str:
    sub = f"<small>{escape(cell.sub)}</small>" if cell.sub else ""
    style = ""
    if cell.shade is not None:  # tint by the rate, 0 % white to 100 % a clear blue
        style = f' style="background:rgba(37,99,235,{0.06 + 0.34 * max(0.0, min(1.0, cell.shade)):.2f})"'
    return f'<td class="{"num" if column.num else "label"}"{style}>{escape(cell.text)}{sub}</td>'


def table_html(t: Table, heading: bool = True) -> str:
    """The table, under an ``<h3>`` with its title unless the section heading already says it."""
    head = "".join(f"<th>{escape(c.title)}{f'<small>{escape(c.note)}</small>' if c.note else ''}</th>"
                   for c in t.columns)
    body = "".join("<tr>" + "".join(_cell(c, col) for c, col in zip(row, t.columns)) + "</tr>" for row in t.rows)
    wide = ' class="wide"' if t.key == "headline" else ""
    parts = [f'<h3 id="{escape(t.key)}">{escape(t.title)}</h3>' if heading else "",
             f"<table{wide}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"]
    if t.caption:
        parts.append(f'<p class="caption">{escape(t.caption)}</p>')
    if t.legend:
        parts.append('<ul class="legend">' + "".join(f"<li>{escape(x)}</li>" for x in t.legend) + "</ul>")
    return "\n".join(p for p in parts if p)


def examples_html(metrics: dict, kind: str) -> str:
    items = examples(metrics, kind)
    if not items:
        return '<p class="note">No examples recorded.</p>'
    labels = list(metrics.get("models", {}))
    out = []
    for ex in items:
        responses, classes = ex.get("responses") or {}, ex.get("classes") or {}
        shown = [m for m in labels if m in responses] + [m for m in responses if m not in labels]
        cards = []
        for m in shown:
            cls = str(classes.get(m, ""))
            badge = f'<span class="badge {escape(cls)}">{escape(cls)}</span>' if cls else ""
            cards.append(f'<div class="answer"><span class="who">{escape(m)}</span>{badge}'
                         f'<pre>{escape(str(responses[m]))}</pre></div>')
        out.append(f'<div class="example"><div class="note">{escape(str(ex.get("id", "")))}</div>'
                   f'<div class="prompt">{escape(str(ex.get("prompt", "")))}</div>'
                   f'<div class="answers" style="grid-template-columns:repeat({max(1, len(shown))},minmax(0,1fr))">'
                   + "".join(cards) + "</div></div>")
    return "\n".join(out)


def plot_key_html(metrics: dict) -> str:
    """Beside the plot: each model's colour and coordinates, so the numbers are readable too."""
    points, x_title, y_title, elo = frontier_points(metrics)
    if not points:
        return ""
    d = 0 if elo else 1  # Elo as integers, percentages with one decimal
    fmt = lambda v, ci: f"{v:.{d}f}" + (f" [{ci[0]:.{d}f}, {ci[1]:.{d}f}]" if ci else "")  # noqa: E731
    rows = "".join(f'<tr><td class="label"><span class="dot" style="background:{PALETTE[k % len(PALETTE)]}"></span>'
                   f'{escape(p.label)}</td><td class="num">{escape(fmt(p.x, p.x_ci))}</td>'
                   f'<td class="num">{escape(fmt(p.y, p.y_ci))}</td></tr>' for k, p in enumerate(points))
    return (f'<div class="key"><table><thead><tr><th>Model</th><th>{escape(x_title)}</th><th>{escape(y_title)}</th>'
            f"</tr></thead><tbody>{rows}</tbody></table>"
            '<p class="note">The dashed line joins the models in the order they are listed.</p></div>')


def header_html(metrics: dict) -> str:
    run = str(metrics.get("run") or "evaluation")
    created = metrics.get("created")
    when = (dt.datetime.fromtimestamp(created, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
            if isinstance(created, (int, float)) else "date unknown")
    models = "".join(f"<li><b>{escape(m)}</b> <code>{escape(str((v or {}).get('spec', '')))}</code></li>"
                     for m, v in metrics.get("models", {}).items())
    return (f"<header><h1>Evaluation report: {escape(run)}</h1>"
            f'<p class="meta">{escape(when)} · {len(metrics.get("models", {}))} models</p>'
            f'<ul class="models">{models}</ul></header>')


def render_html(metrics: dict) -> str:
    tables = all_tables(metrics)
    sections = [header_html(metrics),
                "<h2>Headline</h2>" + "\n".join(table_html(t, heading=False) for t in tables["headline"]),
                "<h2>Harmlessness vs helpfulness</h2>"
                '<p class="caption">Up and to the right is better on both axes (as in Bai et al. 2022, Fig. 2); '
                "whiskers are 95% intervals.</p>"
                f'<div class="plot">{frontier_svg(metrics)}{plot_key_html(metrics)}</div>']
    if tables["categories"]:
        sections.append("<h2>By category</h2>" + "\n".join(table_html(t) for t in tables["categories"]))
    if tables["jailbreak"]:
        sections.append("<h2>Jailbreaks</h2>" + "\n".join(table_html(t) for t in tables["jailbreak"]))
    sections.append("<h2>Over-refusal examples</h2><p class=\"caption\">Benign prompts, side by side.</p>"
                    + examples_html(metrics, "over_refusal"))
    sections.append("<h2>Harmful-prompt examples</h2><p class=\"caption\">Harmful prompts, side by side.</p>"
                    + examples_html(metrics, "harmful"))
    if tables["judges"]:
        sections.append("<h2>Judges</h2>" + "\n".join(table_html(t, heading=False) for t in tables["judges"]))
    title = escape(f"Evaluation report: {metrics.get('run') or 'evaluation'}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
            f"<style>{CSS}</style></head>\n<body><main>\n" + "\n".join(sections) + "\n</main></body></html>\n")
