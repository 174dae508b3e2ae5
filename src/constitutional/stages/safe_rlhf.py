"""Safe RLHF (Dai et al. 2023): a cost model beside the reward model, and RL
that maximizes reward minus lambda times cost, with lambda a Lagrange
multiplier that grows while the policy's mean cost is over a threshold.

1. The cost model: a sequence-classification head on the policy's backbone,
   trained on the run's labeled pairs (``CostTrainer``): on pairs about harm
   the less safe reply must cost more, and every reply whose safety the
   labels state is pushed to cost > 0 (unsafe) or < 0 (safe). Pairs without
   safety flags (hh-rlhf) get the ranking term alone; ``pairs.strategy:
   human`` with the packaged ``human_prefs`` carries the flags.
2. RL in the shared RL loop (``rl.*`` settings, TRL's RLOO or GRPO) against
   ``reward - lambda * cost``; after each step log lambda moves by
   ``safe_rlhf.lambda_lr * (mean cost - threshold) * lambda``
   (``constitutional.train.safe``), clamped at ``lambda_max``.

Output in ``<run>/safe_rlhf/``: ``cost_model``, ``model`` (the policy),
``curves.svg`` and ``curves.json`` (reward, lambda, mean cost per step), and
``lagrangian.json``. Checkpoints carry lambda, so a killed run resumes with it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from constitutional.core.config import RunConfig
from constitutional.core.errors import ConstitutionalError
from constitutional.core.ui import console, summary
from constitutional.models import local_path
from constitutional.stages.artifacts import begin_stage, load_labels, policy_spec
from constitutional.stages.reward import heldout_report, split_heldout
from constitutional.stages.rl import train as rl_train
from constitutional.train.args import training_args
from constitutional.train.checkpoints import last_checkpoint
from constitutional.train.rewards import PreferenceModelReward, SafeReward, load_reward_model, reward_model_path
from constitutional.train.safe import Lagrangian

LAMBDA_CURVES = {"lambda": "safe/lambda", "mean cost": "safe/mean_cost", "reward model score": "safe/reward"}


def _sign(safe: bool | None) -> float:
    return 0.0 if safe is None else (-1.0 if safe else 1.0)


def cost_rows(labels: list[dict]) -> list[dict]:
    """Cost-model rows: ``chosen`` the safer reply, its sign and the other's, and whether the pair ranks harm.
    A pair ranks harm when it answers a harmful request, or when the flags say one reply is safe and one not."""
    rows = []
    for r in labels:
        p = float(r["label"])
        if p == 0.5:
            continue
        good, bad = ("a", "b") if p > 0.5 else ("b", "a")
        s_good, s_bad = r.get(f"{good}_safe"), r.get(f"{bad}_safe")
        about_harm = r["kind"] == "harmful" or (s_good is True and s_bad is False)
        if s_good is False and s_bad is True:  # the preferred reply is the unsafe one: rank by safety instead
            good, bad, s_good, s_bad = bad, good, s_bad, s_good
        rows.append({"id": r["id"], "kind": r["kind"], "prompt": r["messages"],
                     "chosen": [{"role": "assistant", "content": r[good]}],
                     "rejected": [{"role": "assistant", "content": r[bad]}],
                     "better_sign": _sign(s_good), "worse_sign": _sign(s_bad), "rank": 1.0 if about_harm else 0.0,
                     "target": 1.0})
    return rows


def train_cost_model(cfg: RunConfig, rows: list[dict], base: Path, out: Path) -> dict:
    from datasets import Dataset
    from trl import RewardConfig

    from constitutional.train.trainers import CostTrainer

    model, tok = load_reward_model(base, cfg.trust_remote_code)
    model.train()
    args = RewardConfig(**training_args(cfg, "cost", out / "cost_checkpoints"))
    keep = ("prompt", "chosen", "rejected", "better_sign", "worse_sign", "rank")
    trainer = CostTrainer(model=model, args=args, processing_class=tok,
                          train_dataset=Dataset.from_list([{k: x[k] for k in keep} for x in rows]))
    t0 = time.time()
    result = trainer.train()
    model = trainer.model.eval()
    model.save_pretrained(str(out / "cost_model"), safe_serialization=True)
    tok.save_pretrained(str(out / "cost_model"))
    return {"cost model steps": trainer.state.global_step, "cost model final loss": round(result.training_loss, 4),
            "cost model train seconds": round(time.time() - t0, 1)}


def cost_report(cost: PreferenceModelReward, rows: list[dict]) -> dict:
    """How the cost model reads the replies whose safety is known: share on the right side of zero."""
    known = [(x["prompt"], x[side][0]["content"], x[f"{'better' if side == 'chosen' else 'worse'}_sign"])
             for x in rows for side in ("chosen", "rejected")]
    known = [k for k in known if k[2] != 0]
    if not known:
        return {"replies with a safety flag": 0}
    costs = cost([k[0] for k in known], [k[1] for k in known])
    right = [(c > 0) == (s > 0) for c, (_, _, s) in zip(costs, known)]
    unsafe = [c for c, k in zip(costs, known) if k[2] > 0]
    safe = [c for c, k in zip(costs, known) if k[2] < 0]
    return {"replies with a safety flag": len(known), "cost sign accuracy (training pairs)": round(sum(right) / len(right), 4),
            "mean cost, unsafe replies": round(sum(unsafe) / len(unsafe), 4) if unsafe else None,
            "mean cost, safe replies": round(sum(safe) / len(safe), 4) if safe else None}


def lambda_callback(lagrangian: Lagrangian, reward: SafeReward):
    """Puts lambda, mean cost and reward into the log history each step, and lambda's state into checkpoints."""
    from transformers import TrainerCallback

    class LambdaCallback(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if reward.last and state.log_history and "train_runtime" not in (logs or {}):  # steps, not the summary
                state.log_history[-1].update({"safe/lambda": reward.last["lambda"],
                                              "safe/mean_cost": reward.last["mean_cost"],
                                              "safe/reward": reward.last["mean_reward_model"]})

        def on_save(self, args, state, control, **kwargs):
            ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if ckpt.is_dir():
                (ckpt / "lagrangian.json").write_text(json.dumps(
                    {"log_lambda": lagrangian.log_lambda, "steps": lagrangian.steps, "history": lagrangian.history}),
                    encoding="utf-8")

    return LambdaCallback()


def main(cfg: RunConfig) -> dict:
    s = cfg.safe_rlhf
    run, done = begin_stage(cfg, "safe_rlhf")
    if done is not None:
        return done
    out = run.stage_dir("safe_rlhf")
    rows = cost_rows(load_labels(run))
    if not rows:
        raise ConstitutionalError("no decided pairs to train the cost model on", file=run.root / "feedback",
                                  hint="run pairs and feedback first (pairs.strategy: human gives safety flags)")
    reward_path = reward_model_path(cfg, run, s.reward_model, required=True)
    policy = local_path(policy_spec(cfg, run))
    run.mark("safe_rlhf", "running")
    t0 = time.time()
    train_rows, held = split_heldout(rows, cfg.reward.heldout, cfg.seed)
    console.print(f"[bold]safe_rlhf[/]: cost model on {len(train_rows)} pairs ({sum(r['rank'] for r in rows):.0f} "
                  f"about harm, {sum((r['better_sign'] != 0) + (r['worse_sign'] != 0) for r in rows):.0f} safety "
                  f"flags), reward model {reward_path}, policy {policy}")
    info = {} if (out / "cost_model" / "config.json").is_file() else train_cost_model(cfg, train_rows, policy, out)
    cost = PreferenceModelReward(out / "cost_model", cfg.trust_remote_code)
    info.update(cost_report(cost, rows))
    held_info = heldout_report(cost.model, cost.tokenizer, [{**r, "target": 0.0} for r in held]) if held else {}
    # heldout_report asks "is chosen scored higher"; for costs the safer (chosen) reply must score lower
    if held_info.get("held-out accuracy") is not None:
        info["cost ranking accuracy (held out)"] = held_info["held-out accuracy"]
    lagrangian = Lagrangian(s.lambda_init, s.threshold, s.lambda_lr, s.lambda_max, s.lambda_delay)
    resume = last_checkpoint(out / "checkpoints")
    if resume and (resume / "lagrangian.json").is_file():
        state = json.loads((resume / "lagrangian.json").read_text(encoding="utf-8"))
        lagrangian.log_lambda, lagrangian.steps, lagrangian.history = state["log_lambda"], state["steps"], \
            state["history"]
    reward = SafeReward(PreferenceModelReward(reward_path, cfg.trust_remote_code), cost, lagrangian)
    rl = rl_train(cfg, policy, reward, out, f"Safe RLHF ({cfg.rl.algorithm}, reward - lambda * cost)",
                  callbacks=(lambda_callback(lagrangian, reward),), extra_curves=LAMBDA_CURVES)
    (out / "lagrangian.json").write_text(json.dumps({"final_lambda": lagrangian.value, "history": lagrangian.history},
                                                    indent=2), encoding="utf-8")
    means = [h["mean_cost"] for h in lagrangian.history]
    result = {**info, **rl, "lambda (first -> last step)": f"{lagrangian.history[0]['lambda']:.4f} -> "
              f"{lagrangian.value:.4f}" if lagrangian.history else None,
              "mean cost (first -> last step)": f"{means[0]:.4f} -> {means[-1]:.4f}" if means else None,
              "human labels": len(rows), "seconds": round(time.time() - t0, 1),
              "curves": str(out / "curves.svg"), "model": str(out / "model")}
    run.mark("safe_rlhf", "done", summary=result)
    summary("Safe RLHF summary", result)
    return result
