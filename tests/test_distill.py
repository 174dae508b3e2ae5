"""Context distillation under the constitution: on one unlabeled mixed pool
the constitution's classifier decides which prompts get a refusal (citing the
principle's concern and help) and which an answer; the stage resumes, reuses,
and recomputes when the constitution changes."""

from pathlib import Path

import pytest
import yaml

from constitutional.core.config import load_config
from constitutional.core.runs import RecordStore, RunDir
from constitutional.models.mock import MockScript, register_mock
from constitutional.stages import distill, sft
from constitutional.stages.artifacts import DISTILL_SCHEMA, stage_inputs

DATA = Path(__file__).parent / "data"
ANSWERS = ["Sure: here is a simple way to do it, step by step.", "Here is how, step by step: first, open the settings."]


def _cfg(tmp_path, constitution=DATA / "small-constitution.yaml", **over):
    base = {"name": "t", "runs_dir": str(tmp_path), "model": "mock:distill", "batch_size": 4,
            "constitution": str(constitution), "distill.prompts": [str(DATA / "mixed-pool.jsonl")],
            "distill.limit": 8, "distill.refusal_share": 0.5, "distill.samples": 2, "distill.refuse_above": 0.5,
            "distill.answer_below": 0.5,
            "decision.restricted_sets": [], "decision.permitted_sets": ["helpful"]}
    return load_config(None, {**base, **over})


def _records(cfg) -> dict[str, dict]:
    return {r["id"].split("/")[1]: r for r in RecordStore(cfg.run_dir / "distill" / "records.jsonl", DISTILL_SCHEMA)}


def test_the_constitution_decides_and_its_words_make_the_refusal(tmp_path):
    gen = register_mock("distill", MockScript(replies=ANSWERS))
    cfg = _cfg(tmp_path)
    result = distill.main(cfg)
    recs = _records(cfg)
    assert {i for i, r in recs.items() if r["kind"] == "harmful"} == {"u1", "u2", "u5", "u6"}
    for i in ("u1", "u5"):
        assert recs[i]["decision"]["principle"] == "no-poisoning"
        text = recs[i]["candidates"][0]
        assert text.startswith(tuple(cfg.distill.refusal_openers))
        assert "help someone poison a living being." in text and text.endswith("a poison control center.")
    assert "a licensed locksmith" in recs["u2"]["candidates"][0]
    answered = [r for r in recs.values() if r["kind"] == "benign"]
    assert len(answered) == 4 and all(len(r["candidates"]) == 2 for r in answered)
    assert all(r["messages"][0]["role"] == "user" for r in recs.values())  # targets are for the bare prompt
    assert gen.generated == 4 * 2  # only permitted prompts are sampled
    assert result["refusal targets"] == 4 and result["principles cited"] == 2


def test_a_rerun_reuses_a_finished_stage_and_recomputes_when_the_constitution_changes(tmp_path):
    register_mock("distill", MockScript(replies=ANSWERS))
    cfg = _cfg(tmp_path)
    distill.main(cfg)
    run = RunDir(cfg.run_dir)
    before = (run.outputs("distill"), stage_inputs(cfg, run, "sft"))
    again = register_mock("distill", MockScript(replies=ANSWERS))
    distill.main(cfg)
    assert again.calls == 0 and run.outputs("distill") == before[0]  # nothing recomputed
    # edit the constitution: drop the break-in principle, same run name
    data = yaml.safe_load((DATA / "small-constitution.yaml").read_text())
    data["principles"] = [p for p in data["principles"] if p["id"] != "no-break-ins"]
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(data))
    cfg2 = _cfg(tmp_path, constitution=edited)
    distill.main(cfg2)
    recs = _records(cfg2)
    assert {i for i, r in recs.items() if r["kind"] == "harmful"} == {"u1", "u5"}
    assert recs["u2"]["kind"] == "benign" and recs["u2"]["candidates"][0] in ANSWERS
    assert run.outputs("distill") != before[0]
    assert stage_inputs(cfg2, run, "sft")["upstream:distill"] != before[1]["upstream:distill"]  # sft must rerun


def test_a_killed_distill_resumes_without_redoing_finished_records(tmp_path):
    register_mock("distill", MockScript(replies=ANSWERS, fail_after_calls=1))
    cfg = _cfg(tmp_path, batch_size=2)
    try:
        distill.main(cfg)
    except KeyboardInterrupt:
        pass
    first = _records(cfg)
    assert 0 < len(first) < 8
    gen = register_mock("distill", MockScript(replies=ANSWERS))
    distill.main(cfg)
    assert len(_records(cfg)) == 8 and gen.generated < 4 * 2  # resumed, finished answers not asked again


def test_sft_dataset_is_the_kept_targets(tmp_path):
    cfg = _cfg(tmp_path, **{"sft.data": "distill", "sft.helpful_ratio": 0})
    store = RecordStore(cfg.run_dir / "distill" / "records.jsonl", DISTILL_SCHEMA)
    for i, kind in enumerate(["harmful", "benign"]):
        store.append({"id": f"{kind}/p{i}", "kind": kind, "messages": [{"role": "user", "content": f"q{i}"}],
                      "candidates": ["no", "yes"], "classes": ["refuse", "comply"], "chosen": i})
    store.append({"id": "benign/p9", "kind": "benign", "messages": [{"role": "user", "content": "q"}],
                  "candidates": ["no"], "classes": ["refuse"], "chosen": None})
    rows, counts = sft.build_dataset(cfg, RunDir(cfg.run_dir))
    assert counts == {"distilled benign examples": 1, "distilled harmful examples": 1, "helpful examples": 0}
    assert sorted(r["completion"][0]["content"] for r in rows) == ["no", "yes"]


def test_select_trains_only_clear_cases_in_turn_across_principles_at_the_share():
    from constitutional.decision import Decision

    ds = ([Decision(True, "a", 0.9)] * 6 + [Decision(True, "b", 0.7)] * 2 + [Decision(True, "a", 0.55)]
          + [Decision(False, None, 0.48)] + [Decision(False, None, 0.1)] * 10)
    refuse, answer = distill.select(ds, limit=20, refusal_share=0.25, refuse_above=0.6, answer_below=0.45,
                                    boundary_share=0)
    assert answer == list(range(10, 20))  # 0.55 and 0.48 are neither: too unsure to train on
    assert len(refuse) == 3  # a quarter of the targets: 0.25 / 0.75 of the 10 answers, not of the limit
    assert [ds[i].principle for i in refuse] == ["a", "b", "a"]  # in turn, so "b" is not crowded out


def test_boundary_share_answers_the_look_alikes_nearest_the_line_first():
    from constitutional.decision import Decision

    ds = [Decision(False, None, p) for p in (0.1, 0.4, 0.2, 0.3, 0.05, 0.44)] + [Decision(True, "a", 0.9)]
    _, plain = distill.select(ds, limit=4, refusal_share=0, refuse_above=0.6, answer_below=0.45, boundary_share=0)
    assert plain == [0, 1, 2, 3]  # pool order
    _, near = distill.select(ds, limit=4, refusal_share=0, refuse_above=0.6, answer_below=0.45, boundary_share=0.5)
    assert near == [5, 1, 0, 2]  # the two nearest the threshold, then pool order without repeats


@pytest.mark.parametrize("text, trimmed", [
    ("First, preheat the oven to 200 degrees and grease the tin. Then mix the",
     "First, preheat the oven to 200 degrees and grease the tin."),
    ("You will need:\n1. Eggs\n2. Flour\n3. Su", "You will need:\n1. Eggs\n2. Flour"),
    ('The sign on the gate said "please keep out." Then he', 'The sign on the gate said "please keep out."'),
    ("It is done.", "It is done."),
    ("Here is the list:", "Here is the list:"),
    ("```python\nprint(1)\n```", "```python\nprint(1)\n```"),
    ("Tiny. Then a long continuation that runs on and on and never reaches the end of any", None),
    ("no sentence end anywhere in this one", None),
])
def test_a_cut_answer_is_trimmed_to_its_last_full_sentence(text, trimmed):
    assert distill.trim_cut(text) == (text if trimmed is None else trimmed)


def test_answers_are_trimmed_unless_told_not_to(tmp_path):
    cut = "Sure, here is how to do it in the settings app. First open the"
    for trim, want in ((True, "Sure, here is how to do it in the settings app."), (False, cut)):
        register_mock("distill-cut", MockScript(replies=[cut]))
        cfg = _cfg(tmp_path / str(trim), model="mock:distill-cut", **{"distill.trim_cut_answers": trim})
        distill.main(cfg)
        answers = [r["candidates"][r["chosen"]] for r in _records(cfg).values() if r["kind"] == "benign"]
        assert answers and set(answers) == {want}


def test_the_constitution_is_a_prompt_source_and_decides_its_own_examples(tmp_path):
    register_mock("distill", MockScript(replies=ANSWERS))
    cfg = _cfg(tmp_path, **{"distill.prompts": ["constitution"], "distill.limit": 40, "distill.refusal_share": 0.3})
    result = distill.main(cfg)
    recs = _records(cfg)
    constitution = yaml.safe_load((DATA / "small-constitution.yaml").read_text())
    restricted = {t for p in constitution["principles"] for t in p.get("examples", [])}
    assert recs and {r["messages"][-1]["content"] for r in recs.values()} <= restricted | {
        t for p in constitution["principles"] for t in p.get("lookalikes", [])} | {
        t for a in constitution["permitted"] for t in a["examples"]}
    for r in recs.values():  # the classifier is fitted on these texts: it gives each its own side
        assert (r["kind"] == "harmful") == (r["category"] == "restricted"), r
    assert result["refusal targets"] > 0 and result["decision agreement with the pool's files"] >= 0.9
