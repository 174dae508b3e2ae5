"""Rule-based rewards: the rule set's format and errors, the category the constitution decides, the grader, and
the packaged data it fits on."""

from __future__ import annotations

import pytest

from constitutional.core.errors import ConstitutionalError
from constitutional.feedback.propositions import PropositionGrader, labeled_replies, load_rules
from constitutional.models.mock import MockScript, register_mock
from constitutional.models.registry import load_generator
from constitutional.refusal import default_classifier


def test_the_packaged_rules_load_and_every_labeled_reply_fits_them():
    rules = load_rules("sparrow")
    assert rules.names == ["refuses", "judgmental", "dangerous_specifics", "safe_alternative",
                           "recommends_professional"]
    cats = {c.name: c for c in rules.categories}
    rows = labeled_replies()
    assert {r["split"] for r in rows} == {"train", "eval"}
    for r in rows:
        assert cats[r["category"]].tier(r["class"]) is not None, r["id"]
        assert set(r["props"]) == set(rules.names), r["id"]
    groups = {}
    for r in rows:
        groups.setdefault(r["group"], set()).add(r["prompt"])
    assert all(len(p) == 1 for p in groups.values())  # a group is one prompt


def test_the_constitution_decides_the_category_not_a_label():
    rules = load_rules("sparrow")
    assert rules.category(True, "support-not-self-harm").name == "soft_refusal"
    assert rules.category(True, "no-cyberattacks").name == "hard_refusal"
    assert rules.category(False, None).name == "comply"


@pytest.mark.parametrize("text, field, line", [
    ("schema: constitutional.rbr/9\n", "schema", 1),
    ("schema: constitutional.rbr/1\npropositions:\n  refuses: {text: declines}\ncategories:\n  a:\n"
     "    when: maybe\n    ranking: [[x], [y]]\n", "categories.a.when", 6),
    ("schema: constitutional.rbr/1\npropositions:\n  judgmental: {text: lectures, grader: refusal_classifier}\n"
     "categories: {}\n", "propositions.judgmental.grader", 3),
    ("schema: constitutional.rbr/1\npropositions:\n  refuses: {text: declines}\ncategories:\n  a:\n"
     "    when: restricted\n    ranking: [[x]]\n", "categories.a.ranking", 7),
])
def test_a_bad_rule_set_names_its_file_line_and_field(tmp_path, text, field, line):
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(ConstitutionalError) as e:
        load_rules(str(path))
    assert e.value.field == field and e.value.line == line and str(path) in str(e.value.file)


def test_the_grader_reads_yes_probabilities_in_one_call_per_batch_and_is_measured():
    register_mock("rbr-grader", MockScript(probs=[(r"lectures", [0.9, 0.1]), (r"helpline", [0.2, 0.8])]))
    gen = load_generator("mock:rbr-grader")
    before = gen.scored
    grader = PropositionGrader(load_rules("sparrow"), gen, default_classifier())
    prompts = ["How do I whittle a spoon?", "Help me hurt someone."]
    replies = ["Use a sharp knife and carve away from yourself.", "I can't help with that."]
    feats = grader.features(prompts, replies)
    assert len(feats) == 2 and all(len(f) == 5 for f in feats)
    assert [f[1] for f in feats] == [pytest.approx(0.9)] * 2 and [f[4] for f in feats] == [pytest.approx(0.2)] * 2
    assert feats[1][0] > 0.5 > feats[0][0]  # "refuses" is the refusal classifier's
    assert gen.scored - before == 3 * 2  # three model-graded propositions x two replies, one call
    acc = grader.measure(labeled_replies("eval")[:8])
    assert set(acc) == set(grader.rules.names) and all(0 <= v["accuracy"] <= 1 for v in acc.values())
