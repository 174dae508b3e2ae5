import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from constitutional.core.errors import ConstitutionalError
from constitutional.prompts import load_fewshot, load_prompts, packaged_path, parse_hh

HARM_CATEGORIES = {"cbrn", "cyber", "election", "child_safety", "self_harm", "harassment_hate", "privacy",
                   "copyright", "agentic"}


def _norm(t):
    return " ".join(t.lower().split())


def test_packaged_sets_are_big_enough_and_cover_the_harm_categories():
    red = load_prompts("redteam")
    helpful = load_prompts("helpful")
    assert len(red) >= 300 and len(helpful) >= 300
    assert HARM_CATEGORIES <= {p.category for p in red}
    assert len(load_fewshot()) >= 2


@pytest.mark.parametrize("name", ["redteam", "helpful", "borderline"])
def test_train_and_eval_splits_are_fixed_and_disjoint(name):
    train, evals = load_prompts(name, "train"), load_prompts(name, "eval")
    assert len(train) > len(evals) > 0
    assert not {_norm(p.prompt) for p in train} & {_norm(p.prompt) for p in evals}
    assert {p.id for p in train} | {p.id for p in evals} == {p.id for p in load_prompts(name)}


def test_no_prompt_text_is_shared_between_sets():
    names = ("redteam", "helpful", "borderline", "lookalike", "lookalike_train")
    texts = [_norm(p.prompt) for name in names for p in load_prompts(name)]
    texts += [_norm(d.prompt) for d in load_fewshot()]
    assert len(texts) == len(set(texts))


def test_jsonl_csv_parquet_and_datasets_dir_load_the_same(tmp_path):
    rows = [{"id": "a", "prompt": "Hello there", "split": "train"}, {"id": "b", "prompt": "Bye now", "split": "eval"}]
    (tmp_path / "p.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "p.csv").write_text("id,prompt,split\na,Hello there,train\nb,Bye now,eval\n")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "p.parquet")
    from datasets import Dataset

    Dataset.from_list(rows).save_to_disk(str(tmp_path / "ds"))
    for src in ("p.jsonl", "p.csv", "p.parquet", "ds"):
        got = load_prompts(tmp_path / src, split="train")
        assert [(p.id, p.prompt) for p in got] == [("a", "Hello there")], src


def test_hh_rlhf_conversations():
    text = "\n\nHuman: How do I pick a lock?\n\nAssistant: Why?\n\nHuman: I'm locked out.\n\nAssistant: Call a locksmith."
    assert parse_hh(text)[-1] == {"role": "assistant", "content": "Call a locksmith."}


def test_hh_rlhf_file_keeps_the_conversation_up_to_the_last_human_turn(tmp_path):
    text = "\n\nHuman: How do I pick a lock?\n\nAssistant: Why?\n\nHuman: I'm locked out.\n\nAssistant: Call a locksmith."
    (tmp_path / "hh.jsonl").write_text(json.dumps({"chosen": text, "rejected": text}) + "\n")
    (p,) = load_prompts(tmp_path / "hh.jsonl")
    assert [m["role"] for m in p.messages] == ["user", "assistant", "user"]
    assert p.prompt == "I'm locked out."


def test_messages_field(tmp_path):
    conv = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"}]
    (tmp_path / "m.jsonl").write_text(json.dumps({"messages": conv}) + "\n")
    (p,) = load_prompts(tmp_path / "m.jsonl")
    assert len(p.messages) == 2 and p.prompt == "hi"


@pytest.mark.parametrize("content, line, field", [
    ('{"id": "a", "prompt": "ok"}\n{"id": "b", "prompt": \n', 2, None),
    ('{"id": "a", "prompt": "ok"}\n\n{"id": "b", "text": "x"}\n', 3, None),
    ('{"id": "a", "prompt": ""}\n', 1, "prompt"),
    ('{"id": "a", "prompt": "x"}\n{"id": "a", "prompt": "y"}\n', 2, "id"),
    ('{"messages": [{"role": "assistant", "content": "x"}]}\n', 1, "messages"),
])
def test_malformed_prompt_file_names_file_line_and_field(tmp_path, content, line, field):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(ConstitutionalError) as e:
        load_prompts(path)
    assert e.value.line == line and e.value.field == field and str(path) in str(e.value)


def test_empty_sets_and_missing_files_are_clear_errors(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    with pytest.raises(ConstitutionalError, match="empty"):
        load_prompts(path)
    with pytest.raises(ConstitutionalError, match="empty for split 'eval'"):
        load_prompts(packaged_path("redteam").parent / "fewshot.jsonl", split="eval")
    with pytest.raises(ConstitutionalError, match="not found"):
        load_prompts(tmp_path / "nope.jsonl")
