"""Seeded randomness that depends only on what it is for.

``rng_for(seed, prompt_id, "principle", round)`` gives the same draws for the
same parts, whatever else the run holds: adding, reordering or resuming
prompts never shifts another prompt's principle, demo or sample.
"""

from __future__ import annotations

import hashlib
import random


def seed_for(*parts) -> int:
    """A 64-bit seed from ``parts``. ``seed_for(0, "a") != seed_for(0, "b")``, and
    the same parts always give the same number (no process-salted ``hash``). Every
    seeded draw of the project derives from it: changing it changes every run."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "big")


def rng_for(*parts) -> random.Random:
    """An rng that depends only on ``parts`` (seed, prompt id, round, ...)."""
    return random.Random(seed_for(*parts))
