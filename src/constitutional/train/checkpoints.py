"""Resuming: the newest ``checkpoint-N`` a trainer left in its output directory."""

from __future__ import annotations

from pathlib import Path


def last_checkpoint(ckpt_dir: Path) -> Path | None:
    """``checkpoint-25`` over ``checkpoint-5`` (by step, not by name); None when there is none."""
    if not ckpt_dir.is_dir():
        return None
    ckpts = [p for p in ckpt_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return max(ckpts, key=lambda p: int(p.name.split("-")[-1])) if ckpts else None
