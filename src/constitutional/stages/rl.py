"""RL-CAI's reinforcement learning: the SL-CAI policy optimized against a
reward (by default the run's preference model) with a KL penalty to the
SL-CAI model, using TRL's maintained online trainers (RLOO or GRPO; TRL
removed PPOTrainer).

Each step samples ``rl.num_generations`` replies for ``rl.prompts_per_step``
prompts (red-team and helpful prompts mixed, so the policy is not only ever
asked harmful things), scores them with the reward from the registry in
``constitutional.train.rewards`` (the seam other rewards plug
into), and updates the policy. A second reward, the refusal monitor, runs
with weight 0: it changes nothing and puts the refusal rate in the logs.

Outputs in ``<run>/rl/``: ``model`` (the tuned policy), ``curves.json`` and
``curves.svg`` (reward, KL, reply length, refusal rate per step), and
checkpoints a killed run resumes from.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from constitutional.core.config import RunConfig
from constitutional.core.seeding import rng_for
from constitutional.core.ui import console, summary
from constitutional.models import local_path
from constitutional.models.hf import load_tokenizer
from constitutional.prompts import load_prompts
from constitutional.stages.artifacts import begin_stage, policy_spec
from constitutional.train.args import training_args
from constitutional.train.checkpoints import clear_checkpoints, last_checkpoint
from constitutional.train.curves import CURVES, curves, curves_svg
from constitutional.train.rewards import build_reward, refusal_monitor

REFUSAL_MONITOR_WEIGHT = 0.0  # the monitor only logs the refusal rate; it must not shape the reward


def prompt_rows(cfg: RunConfig) -> list[dict]:
    r = cfg.rl
    prompts = load_prompts(r.prompts, r.split, r.limit)
    if r.helpful_prompts:
        prompts += load_prompts(r.helpful_prompts, "train", r.limit)
    rng_for(cfg.seed, "rl-prompts").shuffle(prompts)
    return [{"prompt": list(p.messages)} for p in prompts]


def train(cfg: RunConfig, policy: Path, reward_fn, out: Path, title: str, callbacks: tuple = (),
          extra_curves: dict[str, str] | None = None) -> dict:
    """RL of ``policy`` against ``reward_fn`` (with the refusal monitor beside it at weight 0), checkpointed in
    ``out/checkpoints`` and resumed from the last one; writes ``out/model`` and ``out/curves.{json,svg}``.
    ``extra_curves`` adds curves (title -> log key) that ``callbacks`` put into the log history."""
    from datasets import Dataset

    r = cfg.rl
    if r.algorithm == "grpo":
        from trl import GRPOConfig as Config
        from trl import GRPOTrainer as Trainer
    else:
        from trl import RLOOConfig as Config
        from trl import RLOOTrainer as Trainer
    tok = load_tokenizer(policy, cfg.trust_remote_code)
    args = Config(**training_args(cfg, "rl", out / "checkpoints"), reward_weights=[1.0, REFUSAL_MONITOR_WEIGHT])
    trainer = Trainer(model=str(policy), reward_funcs=[reward_fn, refusal_monitor], args=args,
                      train_dataset=Dataset.from_list(prompt_rows(cfg)), processing_class=tok,
                      callbacks=list(callbacks))
    resume = last_checkpoint(out / "checkpoints")
    if resume:
        console.print(f"resuming RL from {resume}")
    t0 = time.time()
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    seconds = time.time() - t0
    trainer.model.save_pretrained(str(out / "model"), safe_serialization=True)
    tok.save_pretrained(str(out / "model"))
    clear_checkpoints(out / "checkpoints")
    logs = trainer.state.log_history
    names = {**CURVES, **(extra_curves or {})}
    data = curves(logs, names)
    (out / "curves.json").write_text(json.dumps({"log_history": logs, "curves": data}, indent=2), encoding="utf-8")
    (out / "curves.svg").write_text(curves_svg(title, data), encoding="utf-8")
    first = lambda k: round(data[k][0][1], 4) + 0.0 if data[k] else None  # noqa: E731  (+ 0.0: no "-0.0")
    last = lambda k: round(data[k][-1][1], 4) + 0.0 if data[k] else None  # noqa: E731
    return {"steps": trainer.state.global_step, "train seconds": round(seconds, 1),
            **{f"{name} (first -> last step)": f"{first(name)} -> {last(name)}" for name in names}}


def main(cfg: RunConfig) -> dict:
    r = cfg.rl
    run, done = begin_stage(cfg, "rl")
    if done is not None:
        return done
    out = run.stage_dir("rl")
    policy = local_path(policy_spec(cfg, run))
    reward_fn = build_reward(r.reward, cfg, run)
    run.mark("rl", "running")
    console.print(f"[bold]rl[/]: {r.algorithm.upper()} from {policy} against '{r.reward}', {r.steps} steps x "
                  f"{r.prompts_per_step} prompts x {r.num_generations} samples, KL beta {r.beta}")
    result = {**train(cfg, policy, reward_fn, out, f"RL ({r.algorithm}, reward: {r.reward})"),
              "curves": str(out / "curves.svg"), "model": str(out / "model")}
    if getattr(reward_fn, "ai_labels", 0):
        result["AI labels (proposition grades)"] = reward_fn.ai_labels
    run.mark("rl", "done", summary=result)
    summary("RL summary", result)
    return result
