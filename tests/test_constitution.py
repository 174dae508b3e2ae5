import random

import pytest

from constitutional.constitution import load_constitution, packaged_names
from constitutional.core.errors import ConstitutionalError

VALID = """schema: constitutional.constitution/1
name: mine
description: test
principles:
  - id: be-kind
    source: custom
    critique: Point out where the reply is unkind.
    revision: Rewrite the reply to be kind. Write only the reply.
    comparison: Which reply is kinder?
  - id: be-honest
    source: custom
    critique: Point out where the reply is dishonest.
    revision: Rewrite the reply to be honest. Write only the reply.
    comparison: Which reply is more honest?
"""


def test_packaged_sets_have_the_promised_shape():
    assert {"cai-2022", "broad", "custom-example"} <= set(packaged_names())
    assert len(load_constitution("cai-2022").principles) == 26 and len(load_constitution("cai-2022").restricting) == 10
    broad = load_constitution("broad")
    sources = broad.sources()
    for src in ("human-rights", "terms-of-service", "non-western", "sparrow-rules", "lab-research"):
        assert sources.get(src, 0) >= 8, src
    ids = [p.id for name in packaged_names() for p in load_constitution(name).principles]
    assert len(ids) == len(set(ids)), "principle ids should be unique across packaged sets"


def test_sampling_is_seeded_and_covers_the_set():
    c = load_constitution("cai-2022")
    a = [c.sample(random.Random(7)).id for _ in range(3)]
    b = [c.sample(random.Random(7)).id for _ in range(3)]
    assert a == b
    rng = random.Random(0)
    seen = {c.sample(rng).id for _ in range(400)}
    assert seen == {p.id for p in c.principles}


def test_loads_a_valid_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(VALID)
    c = load_constitution(path)
    assert [p.id for p in c.principles] == ["be-kind", "be-honest"]


@pytest.mark.parametrize("mutation, line, field, words", [
    (lambda t: t.replace("    source: custom\n    critique: Point out where the reply is unkind.",
                         "    source: moon\n    critique: Point out where the reply is unkind."), 6,
     "principles.0.source", "input should be"),
    (lambda t: t.replace("    comparison: Which reply is more honest?\n", ""), 10, "principles.1.comparison", "missing"),
    (lambda t: t.replace("id: be-honest", "id: be-kind"), 10, "principles.1.id", "duplicate"),
    (lambda t: t.replace("id: be-honest", "id: Be Honest"), 10, "principles.1.id", "kebab-case"),
    (lambda t: t.replace("    comparison: Which reply is kinder?", "    comparison: Which reply is kinder?\n    weight: 2"),
     10, "principles.0.weight", "unknown field"),
    (lambda t: t.replace("constitution/1", "constitution/9"), 1, "schema", "unknown schema"),
])
def test_malformed_file_names_file_line_and_field(tmp_path, mutation, line, field, words):
    path = tmp_path / "bad.yaml"
    path.write_text(mutation(VALID))
    with pytest.raises(ConstitutionalError) as e:
        load_constitution(path)
    msg = str(e.value)
    assert str(path) in msg and f":{line}:" in msg, msg
    assert e.value.field == field
    assert words in msg.lower()


def test_yaml_syntax_error_points_at_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(VALID.replace("    critique: Point out where the reply is dishonest.",
                                  "    critique: [unclosed"))
    with pytest.raises(ConstitutionalError) as e:
        load_constitution(path)
    assert e.value.line is not None and 12 <= e.value.line <= 14
    assert "YAML" in str(e.value)


def test_fingerprint_changes_with_the_text(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(VALID)
    b.write_text(VALID.replace("Which reply is kinder?", "Which reply is gentler?"))
    assert load_constitution(a).fingerprint == load_constitution(a).fingerprint
    assert load_constitution(a).fingerprint != load_constitution(b).fingerprint


def test_unknown_name_lists_packaged_sets():
    with pytest.raises(ConstitutionalError, match="cai-2022"):
        load_constitution("no-such-constitution")
