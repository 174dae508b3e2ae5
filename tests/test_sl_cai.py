"""SL-CAI end to end through a scripted model (``mock:``): records, provenance,
seeded principles, and a killed run that resumes without redoing a single
model call."""

import pytest

from constitutional.constitution import load_constitution
from constitutional.core.config import load_config
from constitutional.core.runs import RecordStore
from constitutional.models.mock import MockScript, register_mock
from constitutional.stages import sl_cai
from constitutional.stages.artifacts import SL_CAI_SCHEMA, revision_examples

REPLIES = ["I can't help with that; it could hurt someone. A local support line can help.",
           "The reply gives dangerous detail and should decline.", "Here is one way to do it, step by step."]


def _cfg(tmp_path, name="t", **over):
    register_mock(name, MockScript(replies=REPLIES, fail_after_calls=over.pop("fail_after_calls", None)))
    base = {"name": name, "runs_dir": str(tmp_path), "model": f"mock:{name}", "batch_size": 2,
            "sl_cai.limit": 5, "sl_cai.rounds": 2}
    return load_config(None, {**base, **over})


def test_records_carry_provenance(tmp_path):
    cfg = _cfg(tmp_path)
    result = sl_cai.main(cfg)
    records = list(RecordStore(cfg.run_dir / "sl_cai" / "records.jsonl", SL_CAI_SCHEMA))
    assert result["prompts"] == len(records) == 5
    ids = {p.id for p in load_constitution("cai-2022").principles}
    for rec in records:
        assert rec["schema"] == "constitutional.sl_cai/1"
        assert rec["model"] == "mock:t" and rec["seed"] == 0
        assert rec["constitution"] == "cai-2022" and len(rec["constitution_sha"]) == 16
        assert rec["params"]["critique"]["max_new_tokens"] == cfg.sl_cai.critique_tokens
        assert len(rec["rounds"]) == 2 and rec["principle_ids"] == [r["principle_id"] for r in rec["rounds"]]
        assert set(rec["principle_ids"]) <= ids
        assert len(rec["fewshot_ids"]) == 2
        assert rec["rounds"][1]["critique_request"] == load_constitution("cai-2022").by_id[
            rec["principle_ids"][1]].critique
    # principles are drawn per (prompt, round): across 5 prompts x 2 rounds we see more than one
    assert len({pid for r in records for pid in r["principle_ids"]}) > 1
    assert result["revisions kept (final round)"] == len(revision_examples(records, "final", drop_flagged=True))


def test_same_seed_same_principles_other_seed_other_principles(tmp_path):
    runs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        cfg = _cfg(tmp_path, name=name, seed=seed)
        sl_cai.main(cfg)
        runs[name] = [r["principle_ids"] for r in RecordStore(cfg.run_dir / "sl_cai" / "records.jsonl", SL_CAI_SCHEMA)]
    assert runs["a"] == runs["b"] != runs["c"]


def test_killed_run_resumes_without_redoing_calls(tmp_path):
    # 5 prompts in chunks of 4: chunk 1 = 5 batched steps of 2 batches each; die in chunk 2
    cfg = _cfg(tmp_path, fail_after_calls=12)
    first = register_mock("t", MockScript(replies=REPLIES, fail_after_calls=12))
    with pytest.raises(KeyboardInterrupt):
        sl_cai.main(cfg)
    store = RecordStore(cfg.run_dir / "sl_cai" / "records.jsonl", SL_CAI_SCHEMA)
    assert len(list(store)) == 4  # the first chunk's records landed
    # a write cut short by the kill is repaired on open
    with store.path.open("a") as f:
        f.write('{"schema": "constitutional.sl_cai/1", "id": "half')
    second = register_mock("t", MockScript(replies=REPLIES))
    sl_cai.main(cfg)
    records = list(RecordStore(cfg.run_dir / "sl_cai" / "records.jsonl", SL_CAI_SCHEMA))
    assert len(records) == 5 and len({r["id"] for r in records}) == 5
    assert first.generated + second.generated == 5 * (1 + 2 * 2)  # every call made exactly once
    third = register_mock("t", MockScript(replies=REPLIES))
    sl_cai.main(cfg)
    assert third.calls == 0


def test_revision_examples_final_or_all_rounds_and_flag_filter():
    rec = {"id": "p1", "messages": [{"role": "user", "content": "q"}], "response": "orig",
           "rounds": [{"round": 0, "revision": "r0", "flags": []}, {"round": 1, "revision": "r1", "flags": ["off_topic"]}]}
    assert [e["id"] for e in revision_examples([rec], "all", drop_flagged=False)] == ["p1/r0", "p1/r1"]
    assert [e["id"] for e in revision_examples([rec], "all", drop_flagged=True)] == ["p1/r0"]
    assert revision_examples([rec], "final", drop_flagged=True) == []
    (ex,) = revision_examples([rec], "final", drop_flagged=False)
    assert ex["completion"] == [{"role": "assistant", "content": "r1"}] and ex["original"] == "orig"
