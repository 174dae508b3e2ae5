"""The packaged evaluation data: look-alike prompts, jailbreak templates, judge
preference pairs, refusal labels and harm labels. Standard library, yaml and
pytest only, so it runs without torch models."""

import collections
import json
import re
from importlib import resources
from pathlib import Path

import pytest
import yaml

DATA = Path(str(resources.files("constitutional") / "data"))
WITHHELD = "[operational details withheld]"

LOOKALIKE_CATEGORIES = {"homonym", "figurative", "safe_target", "safe_context", "definition", "history",
                        "public_figure", "privacy_fictional"}
JAILBREAK_TECHNIQUES = {"roleplay", "unrestricted_mode", "prefix_injection", "refusal_suppression", "hypothetical",
                        "fiction_scene", "academic", "payload_split", "instruction_override", "emotional_appeal",
                        "style_encoding", "debate"}


def _norm(t):
    return " ".join(t.lower().split())


def read_rows(name):
    with (DATA / name).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _check(rows, fields, allowed=None, minimum=0):
    assert len(rows) >= minimum
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), "ids must be unique"
    for r in rows:
        assert set(r) == set(fields), r["id"]
        for k, v in r.items():
            if isinstance(v, str):
                assert v.strip() == v and v, (r["id"], k)
        for k, values in (allowed or {}).items():
            assert r[k] in values, (r["id"], k, r[k])


def test_lookalike():
    rows = read_rows("lookalike.jsonl")
    _check(rows, {"id", "category", "prompt", "split"}, {"split": {"eval"}, "category": LOOKALIKE_CATEGORIES}, 160)
    counts = collections.Counter(r["category"] for r in rows)
    assert set(counts) == LOOKALIKE_CATEGORIES and min(counts.values()) >= 18
    assert all(r["id"] == f"la-{r['category']}-{r['id'][-3:]}" for r in rows)
    assert len({_norm(r["prompt"]) for r in rows}) == len(rows)


def test_jailbreak_templates():
    doc = yaml.safe_load((DATA / "jailbreaks.yaml").read_text(encoding="utf-8"))
    assert doc["schema"] == "constitutional.jailbreaks/1"
    templates = doc["templates"]
    assert len(templates) >= 10
    assert {t["id"] for t in templates} >= JAILBREAK_TECHNIQUES
    assert len({t["id"] for t in templates}) == len(templates)
    for t in templates:
        assert set(t) == {"id", "name", "description", "template"}, t.get("id")
        assert all(isinstance(t[k], str) and t[k].strip() for k in t), t["id"]
        assert t["template"].count("{behavior}") == 1, t["id"]
        # str.format works too: no other braces
        rest = t["template"].replace("{behavior}", "")
        assert "{" not in rest and "}" not in rest, t["id"]
        assert "BEHAVIOR" in t["template"].format(behavior="BEHAVIOR")


def test_judge_pairs():
    rows = read_rows("judge_pairs.jsonl")
    _check(rows, {"id", "kind", "category", "prompt", "chosen", "rejected", "split"},
           {"kind": {"harmful", "helpful"}, "split": {"eval"}}, 120)
    kinds = collections.Counter(r["kind"] for r in rows)
    assert kinds["harmful"] >= 55 and kinds["helpful"] >= 55
    assert sum(r["category"] == "over_refusal" for r in rows) >= 12
    assert len({_norm(r["prompt"]) for r in rows}) == len(rows)
    words = lambda s: len(s.split())  # noqa: E731
    assert all(words(r["chosen"]) <= 90 and words(r["rejected"]) <= 90 for r in rows)
    assert all(r["chosen"] != r["rejected"] for r in rows)
    # length must not give the answer away
    assert sum(words(r["rejected"]) > words(r["chosen"]) for r in rows) >= len(rows) / 3
    # a harmful request's chosen reply never carries withheld operational content
    assert not any(WITHHELD in r["chosen"] for r in rows)


def test_refusal_labels():
    rows = read_rows("refusal_labels.jsonl")
    _check(rows, {"id", "prompt", "response", "label", "alternative", "split"},
           {"label": {"comply", "partial", "refuse"}, "alternative": {True, False}, "split": {"train", "test"}}, 240)
    labels = collections.Counter(r["label"] for r in rows)
    assert all(labels[k] >= 0.2 * len(rows) for k in ("comply", "partial", "refuse")), labels
    for split, share in (("train", 0.6), ("test", 0.4)):
        part = [r for r in rows if r["split"] == split]
        assert abs(len(part) / len(rows) - share) <= 0.05
        for label, n in labels.items():
            got = sum(r["label"] == label for r in part)
            assert abs(got / n - share) <= 0.07, (split, label, got, n)
    # the same prompt may carry several responses, but only within one split
    splits = collections.defaultdict(set)
    for r in rows:
        splits[_norm(r["prompt"])].add(r["split"])
    assert all(len(s) == 1 for s in splits.values())


def test_harm_labels():
    rows = read_rows("harm_labels.jsonl")
    _check(rows, {"id", "prompt", "response", "harm", "split"}, {"harm": {0, 1, 2, 3, 4}, "split": {"eval"}}, 150)
    levels = collections.Counter(r["harm"] for r in rows)
    assert all(levels[k] >= 0.15 * len(rows) for k in range(5)), levels
    assert len({_norm(r["prompt"]) for r in rows}) == len(rows)
    # levels 3-4 mark the specifics as withheld; levels 0-1 have nothing to withhold
    for r in rows:
        assert (WITHHELD in r["response"]) == (r["harm"] >= 3), r["id"]


def test_no_prompt_text_is_shared_between_packaged_files():
    files = ["redteam.jsonl", "helpful.jsonl", "borderline.jsonl", "fewshot.jsonl", "lookalike.jsonl",
             "judge_pairs.jsonl", "refusal_labels.jsonl", "harm_labels.jsonl"]
    owner = {}
    for name in files:
        for text in {_norm(r["prompt"]) for r in read_rows(name)}:
            assert text not in owner, f"{text!r} is in both {owner.get(text)} and {name}"
            owner[text] = name


@pytest.mark.parametrize("name", ["judge_pairs.jsonl", "refusal_labels.jsonl", "harm_labels.jsonl"])
def test_withheld_marker_is_exact_and_only_in_replies(name):
    """Replies that stand in for harmful specifics use the exact marker (no variants a scorer could miss),
    and prompts never contain it."""
    for r in read_rows(name):
        assert "withheld" not in r["prompt"].lower()
        for key in ("chosen", "rejected", "response"):
            for m in re.findall(r"\[[^\]]*withh[^\]]*\]", r.get(key, ""), flags=re.IGNORECASE):
                assert m == WITHHELD, (r["id"], key, m)
