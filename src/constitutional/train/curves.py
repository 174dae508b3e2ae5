"""RL training curves from a trainer's log history, as a self-contained SVG
(no plotting dependency): reward, KL, reply length and refusal rate per step."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

# curve title -> the key TRL's RLOO/GRPO trainers log it under
CURVES = {"reward": "reward", "KL to reference": "kl", "reply length (tokens)": "completions/mean_length",
          "refusal rate": "rewards/refusal/mean"}


def curves(log_history: list[dict], names: dict[str, str] = CURVES) -> dict[str, list[tuple[float, float]]]:
    """``{title: [(step, value), ...]}`` for every curve in ``names`` (title -> log key) the log has."""
    return {name: [(h["step"], float(h[key])) for h in log_history if key in h and "step" in h]
            for name, key in names.items()}


def _ticks(lo: float, hi: float) -> list[float]:
    if hi == lo:
        return [lo]
    return [lo + (hi - lo) * i / 4 for i in range(5)]


def panel(x0: float, y0: float, w: float, h: float, title: str, points: Sequence[tuple[float, float]]) -> str:
    """One titled line chart with axes, placed at (x0, y0)."""
    parts = [f'<text x="{x0 + w / 2}" y="{y0 - 8}" text-anchor="middle" font-size="13">{escape(title)}</text>',
             f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#999"/>']
    pts = [(x, y) for x, y in points if y == y]  # drop NaN
    if not pts:
        return "\n".join(parts + [f'<text x="{x0 + w / 2}" y="{y0 + h / 2}" text-anchor="middle">no data</text>'])
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    xlo, xhi = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    ylo, yhi = min(ys), max(ys)
    if yhi - ylo < 1e-9:
        ylo, yhi = ylo - 0.5, yhi + 0.5
    sx = lambda x: x0 + (x - xlo) / (xhi - xlo) * w  # noqa: E731
    sy = lambda y: y0 + h - (y - ylo) / (yhi - ylo) * h  # noqa: E731
    for t in _ticks(ylo, yhi):
        parts.append(f'<line x1="{x0}" x2="{x0 + w}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="#eee"/>'
                     f'<text x="{x0 - 4}" y="{sy(t) + 4:.1f}" text-anchor="end" font-size="10">{t:.3g}</text>')
    parts.append(f'<text x="{x0}" y="{y0 + h + 14}" font-size="10">{xlo:g}</text>'
                 f'<text x="{x0 + w}" y="{y0 + h + 14}" text-anchor="end" font-size="10">{xhi:g} steps</text>')
    path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
    parts.append(f'<polyline points="{path}" fill="none" stroke="#2563eb" stroke-width="2"/>')
    parts += [f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="#2563eb"/>' for x, y in pts]
    return "\n".join(parts)


def curves_svg(title: str, curves: dict[str, Sequence[tuple[float, float]]], cols: int = 2) -> str:
    """A grid of panels, one per named curve."""
    w, h, gap = 300, 160, 70
    rows = (len(curves) + cols - 1) // cols
    width, height = cols * (w + gap) + gap, rows * (h + gap) + 50
    body = [panel(gap + (i % cols) * (w + gap), 60 + (i // cols) * (h + gap), w, h, name, pts)
            for i, (name, pts) in enumerate(curves.items())]
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif">'
            f'<rect width="100%" height="100%" fill="white"/>'
            f'<text x="{width / 2}" y="24" text-anchor="middle" font-size="16">{escape(title)}</text>'
            + "\n".join(body) + "</svg>")
