"""Context distillation: best-of-N selection by the refusal classifier, the
stage end to end through a scripted model (with resume), and the SFT
dataset it feeds."""

from constitutional.core.config import load_config
from constitutional.core.runs import RecordStore, RunDir
from constitutional.models.mock import MockScript, register_mock
from constitutional.stages import distill, sft
from constitutional.stages.artifacts import DISTILL_SCHEMA

# reasons and pointers for the shaped refusals; answers for the rest
REPLIES = ["hurt someone badly", "a trusted counselor", "Sure: cut the stump low and cover it.",
           "Here is how, step by step: first, open the settings."]


def _cfg(tmp_path, **over):
    base = {"name": "t", "runs_dir": str(tmp_path), "model": "mock:distill", "batch_size": 4,
            "distill.harmful_limit": 3, "distill.benign_limit": 2, "distill.helpful_limit": 2,
            "distill.samples": 2, "distill.refusal_samples": 2}
    return load_config(None, {**base, **over})


def test_choose_keeps_a_refusal_with_an_alternative_for_harmful_and_an_answer_for_benign():
    cands = ["Sure, here is how.", "I won't help with that; it could hurt people.",
             "I can't help with that. If you're struggling, a local helpline can talk it through."]
    classes = ["comply", "refuse", "refuse"]
    alts = [False, False, True]
    assert distill.choose("harmful", cands, classes, alts, []) == 2
    assert distill.choose("harmful", cands[:2], classes[:2], alts[:2], []) == 1
    assert distill.choose("benign", cands, classes, alts, []) == 0
    assert distill.choose("harmful", cands[:1], classes[:1], alts[:1], []) is None
    # between two refusals with alternatives, the one whose reason names a harm wins over the shorter one
    pair = ["I can't help with that, because it could be art. Talk to a friend.",
            "I can't help with that, because it could hurt someone badly. Talk to a friend."]
    assert distill.choose("harmful", pair, ["refuse"] * 2, [True] * 2, []) == 1
    # a candidate that copies a demonstration is never a target
    assert distill.choose("harmful", cands[1:2], ["refuse"], [False], [cands[1]]) is None


def test_harmful_prompts_get_the_constitution_and_demonstrations_in_context():
    from constitutional.prompts import load_prompts

    p = load_prompts("redteam", "train", 1)
    harmful = distill.conversations("harmful", p)[0]
    benign = distill.conversations("benign", p)[0]
    assert harmful[0] == {"role": "system", "content": distill.HARMLESS_SYSTEM}
    assert len(harmful) > 2 and harmful[-1] == p[0].messages[-1]  # demonstrations, then the bare prompt
    assert benign == [{"role": "system", "content": distill.HELPFUL_SYSTEM}, *p[0].messages]


def test_distill_stage_records_every_candidate_and_resumes(tmp_path):
    gen = register_mock("distill", MockScript(replies=REPLIES))
    cfg = _cfg(tmp_path)
    result = distill.main(cfg)
    recs = list(RecordStore(cfg.run_dir / "distill" / "records.jsonl", DISTILL_SCHEMA))
    # harmful: 2 samples x (reason, alternative) calls; the others: 2 samples
    assert len(recs) == 7 and gen.generated == 3 * 2 * 2 + 4 * 2
    openers = tuple(cfg.distill.refusal_openers)
    for r in recs:
        if r["kind"] == "harmful":  # the fixed shape: opener, the reason, a pointer opener, who to turn to
            alts = cfg.distill.alternative_openers
            assert all(c.startswith(openers) and any(f". {a} " in c for a in alts) for c in r["candidates"])
        assert len(r["candidates"]) == len(r["classes"]) == 2
        assert r["chosen"] is None or r["classes"][r["chosen"]] == ("refuse" if r["kind"] == "harmful" else "comply")
        assert [m["role"] for m in r["messages"]] == ["user"]  # the target is for the bare prompt
    assert result["harmful: targets kept"].endswith("/3")
    again = register_mock("distill", MockScript(replies=REPLIES))
    distill.main(cfg)
    assert again.calls == 0  # nothing sampled again


def test_refusal_samples_sets_the_harmful_candidates_alone(tmp_path):
    register_mock("distill", MockScript(replies=REPLIES))
    cfg = _cfg(tmp_path, **{"distill.refusal_samples": 3})
    distill.main(cfg)
    recs = list(RecordStore(cfg.run_dir / "distill" / "records.jsonl", DISTILL_SCHEMA))
    assert {len(r["candidates"]) for r in recs if r["kind"] == "harmful"} == {3}
    assert {len(r["candidates"]) for r in recs if r["kind"] != "harmful"} == {2}


def test_sft_dataset_is_the_kept_targets_of_the_prompts_the_config_names(tmp_path):
    cfg = _cfg(tmp_path, **{"sft.data": "distill", "sft.helpful_ratio": 0})
    store = RecordStore(cfg.run_dir / "distill" / "records.jsonl", DISTILL_SCHEMA)
    from constitutional.prompts import load_prompts

    ids = {"harmful": load_prompts("redteam", "train", 1)[0].id, "benign": load_prompts("borderline", "train", 1)[0].id,
           "helpful": load_prompts("helpful", "train", 1)[0].id}
    for i, kind in enumerate(["harmful", "benign", "helpful"]):
        store.append({"id": f"{kind}/{ids[kind]}", "kind": kind, "messages": [{"role": "user", "content": f"q{i}"}],
                      "candidates": ["no", "yes"], "classes": ["refuse", "comply"], "alternatives": [False, False],
                      "chosen": 0 if kind == "harmful" else 1})
    store.append({"id": "harmful/not-in-the-config", "kind": "harmful", "messages": [{"role": "user", "content": "q"}],
                  "candidates": ["no"], "classes": ["refuse"], "alternatives": [False], "chosen": 0})
    second = load_prompts("redteam", "train", 2)[1].id
    store.append({"id": f"harmful/{second}", "kind": "harmful", "messages": [{"role": "user", "content": "q"}],
                  "candidates": ["yes"], "classes": ["comply"], "alternatives": [False], "chosen": None})
    rows, counts = sft.build_dataset(cfg, RunDir(cfg.run_dir))
    assert counts == {"distilled benign examples": 1, "distilled harmful examples": 1,
                      "distilled helpful examples": 1, "helpful examples": 0}
    assert sorted(r["completion"][0]["content"] for r in rows) == ["no", "yes", "yes"]
