"""The preference model (Bai et al. 2022 sec. 4.1): a sequence-classification
head on the policy's backbone, trained on the run's labeled pairs.

Soft AI labels train it with binary cross-entropy against the label
(``SoftRewardTrainer``); ``reward.labels: hard`` turns every label into a win
for the preferred reply, which is TRL's loss. A seeded ``reward.heldout``
share of pairs is kept out of training; the stage reports pairwise accuracy
on it (does the model rank the labeled-better reply higher?) and the mean
reward of preferred and dispreferred replies. The model is saved to
``<run>/reward/model`` and is what ``rl`` optimizes against.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from constitutional.core.config import RunConfig
from constitutional.core.errors import ConstitutionalError
from constitutional.core.seeding import rng_for
from constitutional.core.ui import console, summary
from constitutional.models import local_path
from constitutional.stages.artifacts import begin_stage, load_labels, policy_spec
from constitutional.train.args import training_args
from constitutional.train.checkpoints import save_trained
from constitutional.train.rewards import load_reward_model, score


def preference_rows(labels: list[dict], hard: bool) -> list[dict]:
    """TRL conversational preference rows, ``chosen`` = reply a, ``target`` = P(a better)."""
    rows = []
    for r in labels:
        p = float(r["label"])
        if hard:
            if p == 0.5:
                continue
            p = 1.0 if p > 0.5 else 0.0
        rows.append({"id": r["id"], "kind": r["kind"], "prompt": r["messages"],
                     "chosen": [{"role": "assistant", "content": r["a"]}],
                     "rejected": [{"role": "assistant", "content": r["b"]}], "target": p})
    return rows


def split_heldout(rows: list[dict], fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    held = [r for r in rows if rng_for(seed, r["id"], "heldout").random() < fraction]
    ids = {r["id"] for r in held}
    return [r for r in rows if r["id"] not in ids], held


def heldout_report(model, tokenizer, held: list[dict]) -> dict:
    if not held:
        return {"held-out pairs": 0}
    r_a = score(model, tokenizer, [r["prompt"] + r["chosen"] for r in held])
    r_b = score(model, tokenizer, [r["prompt"] + r["rejected"] for r in held])
    decided = [(a, b, r) for a, b, r in zip(r_a, r_b, held) if r["target"] != 0.5]
    right = [(a > b) == (r["target"] > 0.5) for a, b, r in decided]
    pref = [a if r["target"] > 0.5 else b for a, b, r in decided]
    dis = [b if r["target"] > 0.5 else a for a, b, r in decided]
    out = {"held-out pairs": len(held), "held-out accuracy": round(sum(right) / len(right), 4) if right else None,
           "mean reward preferred": round(sum(pref) / len(pref), 4) if pref else None,
           "mean reward dispreferred": round(sum(dis) / len(dis), 4) if dis else None}
    for kind in sorted({r["kind"] for _, _, r in decided}):
        hits = [h for h, (_, _, r) in zip(right, decided) if r["kind"] == kind]
        out[f"held-out accuracy ({kind})"] = round(sum(hits) / len(hits), 4)
    return out


def train(cfg: RunConfig, rows: list[dict], base: Path, out: Path) -> tuple[object, object, dict]:
    from datasets import Dataset
    from trl import RewardConfig

    from constitutional.train.trainers import SoftRewardTrainer

    model, tok = load_reward_model(base, cfg.trust_remote_code)
    model.train()
    args = RewardConfig(**training_args(cfg, "reward", out / "checkpoints"))
    trainer = SoftRewardTrainer(model=model, args=args, processing_class=tok,
                                train_dataset=Dataset.from_list([{k: v for k, v in x.items() if k not in ("id", "kind")}
                                                                 for x in rows]))
    t0 = time.time()
    result = trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    model = trainer.model.eval()
    save_trained(trainer, model, tok, out / "model")
    return model, tok, {"steps": trainer.state.global_step, "first loss": round(losses[0], 4) if losses else None,
                        "final loss": round(result.training_loss, 4), "train seconds": round(time.time() - t0, 1)}


def main(cfg: RunConfig) -> dict:
    r = cfg.reward
    run, done = begin_stage(cfg, "reward")
    if done is not None:
        return done
    out = run.stage_dir("reward")
    labels = load_labels(run)
    rows = preference_rows(labels, r.labels == "hard")
    train_rows, held = split_heldout(rows, r.heldout, cfg.seed)
    if not train_rows:
        raise ConstitutionalError("no pairs left to train on", field="reward.heldout", hint="lower reward.heldout")
    base = local_path(policy_spec(cfg, run, r.base))
    run.mark("reward", "running")
    console.print(f"[bold]reward[/]: {len(train_rows)} training pairs ({r.labels} labels), {len(held)} held out, "
                  f"from {base}")
    model, tok, info = train(cfg, train_rows, base, out)
    result = {"training pairs": len(train_rows), "labels": r.labels, **info, **heldout_report(model, tok, held),
              "model": str(out / "model")}
    (out / "heldout.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    run.mark("reward", "done", summary=result)
    summary("preference model summary", result)
    return result
