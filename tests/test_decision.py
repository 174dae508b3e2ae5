"""The classifier derived from the constitution: what it learns from (the
constitution's text alone), its decisions on an unlabeled mixed file, schema
1 files, and an edit that changes what is declined."""

from pathlib import Path

import pytest
import yaml

from constitutional.constitution import load_constitution
from constitutional.core.errors import ConstitutionalError
from constitutional.decision import ConstitutionClassifier, classifier_for, training_data
from constitutional.decision.classifier import PERMITTED
from constitutional.prompts import load_prompts

DATA = Path(__file__).parent / "data"
SMALL = DATA / "small-constitution.yaml"
POOL = DATA / "mixed-pool.jsonl"
EXPECTED = {"u1": "no-poisoning", "u5": "no-poisoning", "u2": "no-break-ins", "u6": "no-break-ins",
            "u3": None, "u4": None, "u7": None, "u8": None}


def test_training_data_is_the_constitutions_own_text():
    c = load_constitution(SMALL)
    texts, labels = training_data(c)
    restricted = {t for p in c.restricting for t in (p.restricts, *p.examples)}
    permitted = {t for p in c.principles for t in p.lookalikes} | {t for p in c.permitted for t in p.examples}
    assert set(texts) == restricted | permitted
    assert {lab for t, lab in zip(texts, labels) if t in permitted} == {PERMITTED}
    assert {lab for t, lab in zip(texts, labels) if t in restricted} == {"no-poisoning", "no-break-ins"}


def test_decides_an_unlabeled_mixed_file_and_names_the_principle():
    clf = classifier_for(str(SMALL), 0.5, 4.0)
    prompts = load_prompts(str(POOL), "train")
    got = {p.id: d.principle for p, d in zip(prompts, clf.decide([p.prompt for p in prompts]))}
    assert got == EXPECTED


def test_removing_a_principle_stops_declining_its_requests(tmp_path):
    data = yaml.safe_load(SMALL.read_text())
    data["principles"] = [p for p in data["principles"] if p["id"] != "no-break-ins"]
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(data))
    clf = ConstitutionClassifier(load_constitution(edited), 0.5, 4.0)
    prompts = {p.id: p.prompt for p in load_prompts(str(POOL), "train")}
    got = {i: d.principle for i, d in zip(prompts, clf.decide(list(prompts.values())))}
    assert got == {**EXPECTED, "u2": None, "u6": None}


def test_a_schema_1_constitution_loads_and_the_decision_names_the_upgrade():
    c = load_constitution("custom-example")
    assert c.schema_ == "constitutional.constitution/1" and not c.restricting
    with pytest.raises(ConstitutionalError) as e:
        classifier_for("custom-example", 0.5, 4.0)
    assert "schema: constitutional.constitution/2" in e.value.render() and "concern" in e.value.render()


def test_a_schema_2_field_in_a_schema_1_file_says_to_change_the_schema(tmp_path):
    data = yaml.safe_load(SMALL.read_text())
    data["schema"] = "constitutional.constitution/1"
    data.pop("permitted")
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConstitutionalError) as e:
        load_constitution(path)
    assert e.value.field.endswith("restricts") and "constitution/2" in e.value.render()


def test_a_restricting_principle_must_say_why_and_where_to_turn(tmp_path):
    data = yaml.safe_load(SMALL.read_text())
    del data["principles"][0]["help"]
    path = tmp_path / "nohelp.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConstitutionalError) as e:
        load_constitution(path)
    assert "help" in e.value.render()


def test_the_packaged_constitution_decides_held_out_prompts_well_above_chance():
    from constitutional.decision.check import check

    report = check(classifier_for("cai-2022", 0.5, 4.0), ["redteam"], ["lookalike", "helpful"])
    assert report["restricted_recall"] >= 0.75 and report["permitted_specificity"] >= 0.75
