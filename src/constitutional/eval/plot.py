"""The harmlessness-vs-helpfulness frontier as inline SVG, written by hand.

Same axes as Bai et al. 2022 (Constitutional AI), Fig. 2: helpfulness Elo on
x, harmlessness Elo on y, so up-and-right is better on both. One labeled
point per model, with its bootstrap interval as whiskers on both axes, and a
faint line through the models in the order they are listed (base -> SFT ->
RL reads as a trajectory, as the paper's curves do).

Departure: when a run has no pairwise judgments (no Elo), the plot falls
back to rates: x = 1 - over-refusal (benign prompts answered) and
y = refusal rate on harmful prompts, in percent. The axis titles say which.
"""

from __future__ import annotations

import math
from html import escape
from typing import NamedTuple

from constitutional.eval.metrics import interval_of, summary_of

PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"]
W, H = 720, 460
LEFT, RIGHT, TOP, BOTTOM = 70, 24, 20, 56  # margins around the plotting area


class Point(NamedTuple):
    label: str
    x: float
    y: float
    x_ci: tuple[float, float] | None
    y_ci: tuple[float, float] | None


def _ci(ci, scale: float = 1.0, flip: bool = False) -> tuple[float, float] | None:
    if not ci or any(v is None for v in ci):
        return None
    lo, hi = (scale * (1 - ci[1]), scale * (1 - ci[0])) if flip else (scale * ci[0], scale * ci[1])
    return (lo, hi)


class Frontier(NamedTuple):
    points: list[Point]
    x_title: str
    y_title: str
    elo: bool  # False: the rate fallback, in percent


def frontier_points(metrics: dict) -> Frontier:
    """The points and the two axis titles: Elo when every model has both, else rates."""
    labels = list(metrics.get("models", {}))
    summaries = {m: summary_of(metrics, m) for m in labels}
    if labels and all(summaries[m].get("helpfulness_elo") is not None and
                      summaries[m].get("harmlessness_elo") is not None for m in labels):
        points = [Point(m, summaries[m]["helpfulness_elo"], summaries[m]["harmlessness_elo"],
                        _ci(interval_of(metrics, m, "helpfulness_elo")),
                        _ci(interval_of(metrics, m, "harmlessness_elo"))) for m in labels]
        return Frontier(points, "Helpfulness Elo", "Harmlessness Elo", True)
    points = [Point(m, 100 * (1 - summaries[m]["over_refusal_rate"]), 100 * summaries[m]["refusal_rate"],
                    _ci(interval_of(metrics, m, "over_refusal_rate"), 100, flip=True),
                    _ci(interval_of(metrics, m, "refusal_rate"), 100))
              for m in labels
              if summaries[m].get("over_refusal_rate") is not None and summaries[m].get("refusal_rate") is not None]
    return Frontier(points, "Benign prompts answered, % (1 − over-refusal)", "Harmful prompts refused, %", False)


def nice_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    """Round tick values covering [lo, hi]: ``nice_ticks(812, 1190) -> [800, 900, ..., 1200]``."""
    if hi <= lo:
        lo, hi = lo - 1, hi + 1
    raw = (hi - lo) / target
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    return [start + k * step for k in range(int(math.ceil((hi - start) / step)) + 1)]


def _tick_text(v: float) -> str:
    return f"{v:.0f}" if abs(v - round(v)) < 1e-9 else f"{v:g}"


def frontier_svg(metrics: dict) -> str:
    """An ``<svg>`` element (no external references) for the report's frontier section."""
    points, x_title, y_title, elo = frontier_points(metrics)
    if not points:
        return '<p class="note">No model has the numbers this plot needs (Elo, or refusal and over-refusal rates).</p>'
    xs = [v for p in points for v in (p.x, *(p.x_ci or ()))]
    ys = [v for p in points for v in (p.y, *(p.y_ci or ()))]
    pad_x, pad_y = 0.08 * ((max(xs) - min(xs)) or 10), 0.08 * ((max(ys) - min(ys)) or 10)
    lo, hi = (-math.inf, math.inf) if elo else (0.0, 100.0)  # percentages stay on [0, 100]
    xt = nice_ticks(max(lo, min(xs) - pad_x), min(hi, max(xs) + pad_x))
    yt = nice_ticks(max(lo, min(ys) - pad_y), min(hi, max(ys) + pad_y))
    x0, x1, y0, y1 = xt[0], xt[-1], yt[0], yt[-1]
    px = lambda v: LEFT + (v - x0) / (x1 - x0) * (W - LEFT - RIGHT)  # noqa: E731
    py = lambda v: H - BOTTOM - (v - y0) / (y1 - y0) * (H - TOP - BOTTOM)  # noqa: E731
    out = [f'<svg class="frontier" width="{W}" height="{H}" '
           f'viewBox="0 0 {W} {H}" role="img" aria-label="{escape(y_title)} against {escape(x_title)}">',
           f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" fill="#fafafa" '
           'stroke="#9ca3af"/>']
    for v in xt:
        out.append(f'<line x1="{px(v):.1f}" y1="{TOP}" x2="{px(v):.1f}" y2="{H - BOTTOM}" stroke="#e5e7eb"/>'
                   f'<text x="{px(v):.1f}" y="{H - BOTTOM + 18}" text-anchor="middle" class="tick">{_tick_text(v)}</text>')
    for v in yt:
        out.append(f'<line x1="{LEFT}" y1="{py(v):.1f}" x2="{W - RIGHT}" y2="{py(v):.1f}" stroke="#e5e7eb"/>'
                   f'<text x="{LEFT - 8}" y="{py(v) + 4:.1f}" text-anchor="end" class="tick">{_tick_text(v)}</text>')
    out.append(f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 12}" text-anchor="middle" class="axis">{escape(x_title)}</text>'
               f'<text transform="translate(18 {(TOP + H - BOTTOM) / 2}) rotate(-90)" text-anchor="middle" '
               f'class="axis">{escape(y_title)}</text>')
    if len(points) > 1:
        path = " ".join(f"{px(p.x):.1f},{py(p.y):.1f}" for p in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="#9ca3af" stroke-dasharray="4 4"/>')
    for k, p in enumerate(points):
        color = PALETTE[k % len(PALETTE)]
        if p.x_ci:
            out.append(f'<line x1="{px(p.x_ci[0]):.1f}" y1="{py(p.y):.1f}" x2="{px(p.x_ci[1]):.1f}" '
                       f'y2="{py(p.y):.1f}" stroke="{color}" stroke-width="2"/>')
        if p.y_ci:
            out.append(f'<line x1="{px(p.x):.1f}" y1="{py(p.y_ci[0]):.1f}" x2="{px(p.x):.1f}" '
                       f'y2="{py(p.y_ci[1]):.1f}" stroke="{color}" stroke-width="2"/>')
        out.append(f'<circle cx="{px(p.x):.1f}" cy="{py(p.y):.1f}" r="6" fill="{color}" stroke="#fff" stroke-width="1.5"/>'
                   f'<text x="{px(p.x) + 10:.1f}" y="{py(p.y) - 10:.1f}" class="pt" fill="{color}">{escape(p.label)}</text>')
    out.append("</svg>")
    return "\n".join(out)
