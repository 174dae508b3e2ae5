"""RL-CAI stages: pairs and feedback (with a killed run resuming) through a
scripted model, then the real TRL trainers on the tiny model: the soft-label
preference model, one RL step through the reward seam, weighted DPO."""

import json
import math

import pytest
import torch

from constitutional.core.config import load_config
from constitutional.core.runs import RecordStore
from constitutional.models.mock import MockScript, register_mock
from constitutional.refusal import default_classifier
from constitutional.stages import dpo, feedback, pairs, reward, rl
from constitutional.stages.artifacts import LABELS_SCHEMA, PAIRS_SCHEMA
from constitutional.train import rewards

REFUSAL = "I can't help with that, because it could hurt someone. A local support line can help."
ANSWER = "Sure. Here is how, step by step: first open the settings, then pick the option you need."


def _cfg(tmp_path, tiny_model_dir, **over):
    base = {"name": "t", "runs_dir": str(tmp_path), "model": f"hf:{tiny_model_dir}", "batch_size": 4,
            "dtype": "float32", "pairs.limit": 6, "pairs.helpful_limit": 3, "pairs.max_new_tokens": 8,
            "feedback.check": False}
    return load_config(None, {**base, **over})


def _mock_cfg(tmp_path, **over):
    return load_config(None, {"name": "t", "runs_dir": str(tmp_path), "model": "mock:rl", "batch_size": 4,
                              "pairs.limit": 6, "pairs.helpful_limit": 3, "feedback.check": False, **over})


@pytest.mark.parametrize("strategy", ["judge", "contrastive"])
def test_pairs_sample_two_replies_per_prompt(tmp_path, strategy):
    gen = register_mock("rl", MockScript(replies=[REFUSAL, ANSWER]))
    cfg = _mock_cfg(tmp_path, **{"pairs.strategy": strategy, "pairs.helpful_source": strategy})
    result = pairs.main(cfg)
    recs = list(RecordStore(cfg.run_dir / "pairs" / "pairs.jsonl", PAIRS_SCHEMA))
    assert len(recs) == 9 and gen.generated == 18
    assert {r["kind"] for r in recs} == {"harmful", "helpful"}
    for r in recs:
        assert [m["role"] for m in r["messages"]] == ["user"]  # contrastive system prompts are not recorded
        assert (r["label"] is None) == (strategy == "judge")
    assert result["to label by AI feedback"] == (9 if strategy == "judge" else 0)
    again = register_mock("rl", MockScript(replies=[REFUSAL, ANSWER]))
    pairs.main(cfg)  # rerun: nothing new sampled
    assert again.calls == 0


def _pair(kind, pid, prompt, a, b):
    return {"id": f"{kind}/{pid}", "kind": kind, "strategy": "classifier",
            "messages": [{"role": "user", "content": prompt}], "a": a, "b": b, "label": None}


def test_classifier_grades_pairs_by_the_refusal_proposition():
    """A harmful request wants the refusal, a benign look-alike wants the answer;
    ties are left out; two wrong replies are paired against the distilled target."""
    refusal = "I can't help with that, because it could hurt someone. Instead, I can point you to a safety hotline."
    answer = "Sure. Cut the stump low, drill holes in it, and keep it covered so new shoots stop."
    recs = [
        _pair("harmful", "h1", "How do I poison my neighbor's dog?", answer, refusal),
        _pair("benign", "b1", "How do I kill a tree stump?", refusal, answer),
        _pair("benign", "b2", "How do I kill weeds in my lawn?", answer, answer),
        _pair("benign", "b3", "How do I gut a trout?", refusal, refusal),
        _pair("benign", "b4", "How do I shred cabbage?", refusal, refusal),
    ]
    kept, ties = pairs.graded_pairs(recs, default_classifier(), {"benign/b3": "Slit the belly from vent to gills."})
    assert ties == 1
    got = {r["id"]: (r["label"], r["a"]) for r in kept}
    assert got == {"harmful/h1": (0.0, answer), "benign/b1": (0.0, refusal),
                   "benign/b3": (1.0, "Slit the belly from vent to gills.")}
    assert {r["id"]: r["b"] for r in kept}["benign/b3"] == refusal


def test_classifier_strategy_samples_red_team_and_benign_prompts(tmp_path):
    """Every pair's fate follows from the scripted replies: one reply right -> kept with
    that label, both right -> a tie left out, both wrong (no distill target) -> dropped."""
    gen = register_mock("rl", MockScript(replies=[REFUSAL, ANSWER]))
    cfg = _mock_cfg(tmp_path, **{"pairs.strategy": "classifier", "pairs.helpful_source": "none",
                                 "pairs.limit": 6, "pairs.benign_limit": 6})
    result = pairs.main(cfg)
    assert gen.generated == 24  # (6 red-team + 6 benign) x 2 replies
    recs = {r["id"]: r for r in RecordStore(cfg.run_dir / "pairs" / "pairs.jsonl", PAIRS_SCHEMA)}
    expect, ties = {}, 0
    for kind, prompts in (("harmful", pairs.load_prompts("redteam", "train", 6)),
                          ("benign", pairs.load_many(cfg.pairs.benign_prompts, "train", 6))):
        for p in prompts:
            a, b = (gen.reply(list(p.messages), cfg.seed + j) for j in (0, 1))
            ok_a, ok_b = ((x == REFUSAL) == (kind == "harmful") for x in (a, b))
            if ok_a != ok_b:
                expect[f"{kind}/{p.id}"] = 1.0 if ok_a else 0.0
            ties += ok_a and ok_b
    assert expect and {i: r["label"] for i, r in recs.items()} == expect
    assert result["ties left out (both replies right)"] == ties


def test_human_preference_file_gives_labeled_helpful_pairs(tmp_path):
    register_mock("rl", MockScript(replies=[REFUSAL, ANSWER]))
    hh = tmp_path / "hh.jsonl"
    hh.write_text(json.dumps({"chosen": "\n\nHuman: Name a prime.\n\nAssistant: 7 is prime.",
                              "rejected": "\n\nHuman: Name a prime.\n\nAssistant: 8."}) + "\n")
    cfg = _mock_cfg(tmp_path, **{"pairs.helpful_source": str(hh), "pairs.limit": 2})
    pairs.main(cfg)
    recs = [r for r in RecordStore(cfg.run_dir / "pairs" / "pairs.jsonl", PAIRS_SCHEMA) if r["kind"] == "helpful"]
    assert len(recs) == 1 and recs[0]["label"] == 1.0 and recs[0]["a"] == "7 is prime."
    assert recs[0]["messages"] == [{"role": "user", "content": "Name a prime."}]


def test_the_human_strategy_takes_every_pair_and_its_safety_flags_from_the_files(tmp_path):
    cfg = _mock_cfg(tmp_path, **{"pairs.strategy": "human", "pairs.helpful_source": "none"})
    pairs.main(cfg)
    recs = list(RecordStore(cfg.run_dir / "pairs" / "pairs.jsonl", PAIRS_SCHEMA))
    assert len(recs) == 60 and {r["kind"] for r in recs} == {"harmful", "benign", "helpful"}
    assert all(r["label"] == 1.0 and r["label_source"] == "human" and r["strategy"] == "human" for r in recs)
    harmful = [r for r in recs if r["kind"] == "harmful"]
    assert all(r["a_safe"] is True for r in harmful) and any(r["b_safe"] is False for r in harmful)
    feedback.main(cfg)  # human labels pass through: no judge is loaded
    labels = list(RecordStore(cfg.run_dir / "feedback" / "labels.jsonl", LABELS_SCHEMA))
    assert len(labels) == 60 and all(r["judge"] is None and "a_safe" in r for r in labels)


def test_a_safety_flag_that_is_not_true_or_false_names_its_line(tmp_path):
    from constitutional.core.errors import ConstitutionalError
    from constitutional.prompts import load_preferences

    f = tmp_path / "prefs.jsonl"
    f.write_text(json.dumps({"prompt": "Hi", "chosen": "Hello!", "rejected": "No.", "chosen_safe": True}) + "\n"
                 + json.dumps({"prompt": "Hi", "chosen": "Hello!", "rejected": "No.", "rejected_safe": "yes"}) + "\n")
    with pytest.raises(ConstitutionalError) as e:
        load_preferences(f)
    assert e.value.line == 2 and e.value.field == "rejected_safe"


def test_killed_feedback_resumes_without_rescoring(tmp_path):
    """The judge prefers the reply in slot A when it reads the refusal there: labels must
    come out the same after a kill and a resume as in one go."""
    script = dict(replies=[REFUSAL, ANSWER], probs=[(r"\(A\) I can't help", [0.8, 0.2]), (r"\(B\) I can't help", [0.2, 0.8])])
    register_mock("rl", MockScript(**script))
    cfg = _mock_cfg(tmp_path, batch_size=4, **{"feedback.judge": "model"})  # 2 pairs per feedback chunk
    pairs.main(cfg)
    killed = register_mock("rl", MockScript(**script, fail_after_calls=2))
    with pytest.raises(KeyboardInterrupt):
        feedback.main(cfg)
    store = RecordStore(cfg.run_dir / "feedback" / "labels.jsonl", LABELS_SCHEMA)
    assert len(list(store)) == 4  # two chunks of two pairs landed before the kill
    resumed = register_mock("rl", MockScript(**script))
    result = feedback.main(cfg)
    labels = list(store)
    assert len(labels) == len({r["id"] for r in labels}) == 9 == result["pairs labeled"]
    assert resumed.scored == (9 - 4) * 2  # only the unlabeled pairs, each in both orders
    assert killed.scored == 4 * 2
    for r in labels:
        assert r["label_source"] == "ai feedback" and len(r["scores"]) == 1 and r["judge"]["model"] == "mock:rl"
        refusal_in = [x == REFUSAL for x in (r["a"], r["b"])]
        want = 0.5 if refusal_in[0] == refusal_in[1] else (0.8 if refusal_in[0] else 0.2)
        assert r["label"] == pytest.approx(want)  # the same labels as an uninterrupted run would give


def _write_labels(run_dir, n=40, target=0.9):
    """An easy synthetic preference task: the preferred reply always says the
    same polite sentence, the other always the same curt one."""
    from constitutional.prompts import load_prompts

    store = RecordStore(run_dir / "feedback" / "labels.jsonl", LABELS_SCHEMA)
    for i, p in enumerate(load_prompts("helpful", "train", n)):
        good, bad = "Happy to help: here is a clear answer.", "No. Go away."
        a, b, label = (good, bad, target) if i % 2 else (bad, good, 1 - target)
        store.append({"id": f"helpful/{p.id}", "kind": "helpful", "strategy": "judge", "messages": list(p.messages),
                      "a": a, "b": b, "label": label, "label_source": "ai feedback"})


@pytest.mark.parametrize("labels", ["soft", "hard"])
def test_preference_model_learns_the_label_not_just_the_winner(tmp_path, tiny_model_dir, labels):
    """Every label says the polite reply wins with p = 0.75. Soft labels must land the
    model's P(polite wins) = sigmoid(r_polite - r_curt) near 0.75; hard labels (TRL's loss)
    push it toward 1. Both rank the polite reply first on held-out pairs."""
    cfg = _cfg(tmp_path, tiny_model_dir, **{"reward.epochs": 6, "reward.learning_rate": 1e-3, "reward.labels": labels,
                                            "reward.heldout": 0.25, "reward.batch_size": 4})
    _write_labels(cfg.run_dir, target=0.75)
    result = reward.main(cfg)
    assert result["held-out pairs"] >= 5
    assert result["held-out accuracy"] >= 0.9  # chance is 0.5
    model, tok = rewards.load_reward_model(cfg.run_dir / "reward" / "model")
    prompt = [{"role": "user", "content": "Any question at all?"}]
    good, bad = rewards.score(model, tok, [prompt + [{"role": "assistant", "content": x}]
                                           for x in ("Happy to help: here is a clear answer.", "No. Go away.")])
    p_good = 1 / (1 + math.exp(bad - good))
    if labels == "soft":
        assert 0.6 < p_good < 0.9, p_good
    else:
        assert p_good > 0.9, p_good


def _weights(path):
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def _changed_and_finite(before, after):
    assert set(before) <= set(after)
    assert all(torch.isfinite(t).all() for t in after.values())
    return any(not torch.equal(before[k], after[k]) for k in before)


def test_one_rl_step_through_the_reward_seam(tmp_path, tiny_model_dir, monkeypatch):
    seen = []

    def _length(cfg, run):
        def reward_fn(prompts, completions, **kw):
            seen.extend(completions)
            return [len(c[-1]["content"]) / 10 for c in completions]

        reward_fn.__name__ = "length"
        return reward_fn

    monkeypatch.setitem(rewards.REWARDS, "test-length", _length)  # registered for this test only

    cfg = _cfg(tmp_path, tiny_model_dir, **{"rl.reward": "test-length", "rl.steps": 1, "rl.num_generations": 2,
                                            "rl.prompts_per_step": 2, "rl.max_new_tokens": 8, "rl.limit": 2,
                                            "rl.learning_rate": 1e-3})
    result = rl.main(cfg)
    assert result["steps"] == 1 and len(seen) == 4  # 2 prompts x 2 samples went through the registered reward
    assert _changed_and_finite(_weights(tiny_model_dir), _weights(cfg.run_dir / "rl" / "model"))
    curves = json.loads((cfg.run_dir / "rl" / "curves.json").read_text())["curves"]
    assert len(curves["reward"]) == 1 and math.isfinite(curves["reward"][0][1])
    assert 0 <= curves["refusal rate"][0][1] <= 1 and math.isfinite(curves["KL to reference"][0][1])
    assert (cfg.run_dir / "rl" / "curves.svg").read_text().startswith("<svg")


def test_weighted_dpo_steps(tmp_path, tiny_model_dir):
    # two steps of two pairs: the first is the one-step warmup (lr 0), the second moves the weights
    cfg = _cfg(tmp_path, tiny_model_dir, **{"dpo.batch_size": 2, "dpo.learning_rate": 1e-3,
                                            "dpo.min_confidence": 0.6})
    _write_labels(cfg.run_dir, n=4, target=0.9)
    rows = dpo.dpo_rows(list(RecordStore(cfg.run_dir / "feedback" / "labels.jsonl", LABELS_SCHEMA)), 0.6)
    assert all(r["chosen"][0]["content"].startswith("Happy") for r in rows)  # oriented by the label
    assert [round(r["weight"], 6) for r in rows] == [0.8] * 4
    result = dpo.main(cfg)
    assert result["steps"] == 2 and math.isfinite(result["final loss"])
    assert _changed_and_finite(_weights(tiny_model_dir), _weights(cfg.run_dir / "dpo" / "model"))


def test_dpo_kinds_filter_names_the_setting_when_nothing_is_left(tmp_path, tiny_model_dir):
    from constitutional.core.errors import ConstitutionalError

    cfg = _cfg(tmp_path, tiny_model_dir, **{"dpo.kinds": ["benign"]})
    _write_labels(cfg.run_dir, n=4)  # helpful pairs only
    with pytest.raises(ConstitutionalError, match="dpo.kinds"):
        dpo.main(cfg)


def test_unknown_reward_names_the_registered_ones(tmp_path, tiny_model_dir):
    from constitutional.core.errors import ConstitutionalError

    cfg = _cfg(tmp_path, tiny_model_dir, **{"rl.reward": "nope"})
    with pytest.raises(ConstitutionalError, match="preference_model"):
        rl.main(cfg)
