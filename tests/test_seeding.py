"""Seeded draws depend only on what they are for, and stay what they were: every
principle, demo, opener and eval prompt a past run drew is drawn again."""

import hashlib
import random

from constitutional.core.seeding import rng_for, seed_for


def test_seeds_are_the_sha256_of_the_parts():
    digest = hashlib.sha256(repr((0, "redteam-1", "principle", 0)).encode()).digest()
    assert seed_for(0, "redteam-1", "principle", 0) == int.from_bytes(digest[:8], "big")
    assert rng_for(0, "redteam-1").random() == random.Random(seed_for(0, "redteam-1")).random()
    assert seed_for(0, "a") != seed_for(0, "b") and seed_for(0, "a") == seed_for(0, "a")
