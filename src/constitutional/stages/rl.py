"""RL-CAI's reinforcement learning: the SL-CAI policy optimized against a
reward (by default the run's preference model) with a KL penalty to the
SL-CAI model, using TRL's maintained online trainers (RLOO or GRPO; TRL
removed PPOTrainer).

Each step samples ``rl.num_generations`` replies for ``rl.prompts_per_step``
prompts (red-team and helpful prompts mixed, so the policy is not only ever
asked harmful things), scores them with the reward from the registry in
``constitutional.rewards`` (the seam rule-based rewards and Safe RLHF plug
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

from ..config import RunConfig
from ..models import local_path
from ..plots import curves_svg
from ..prompts import load_prompts
from ..rewards import build_reward, refusal_monitor
from ..ui import console, summary
from .common import finished_model_stage, open_run, policy_spec, rng_for
from .sft import _last_checkpoint

CURVES = {"reward": "reward", "KL to reference": "kl", "reply length (tokens)": "completions/mean_length",
          "refusal rate": "rewards/refusal/mean"}


def prompt_rows(cfg: RunConfig) -> list[dict]:
    r = cfg.rl
    prompts = load_prompts(r.prompts, r.split, r.limit)
    if r.helpful_prompts:
        prompts += load_prompts(r.helpful_prompts, "train", r.limit)
    rng_for(cfg.seed, "rl-prompts").shuffle(prompts)
    return [{"prompt": list(p.messages)} for p in prompts]


def curves(log_history: list[dict]) -> dict[str, list[tuple[float, float]]]:
    return {name: [(h["step"], float(h[key])) for h in log_history if key in h and "step" in h]
            for name, key in CURVES.items()}


def train(cfg: RunConfig, policy: Path, reward_fn, out: Path) -> dict:
    from datasets import Dataset

    from ..models.hf import load_tokenizer
    from ..training import cpu_safe_args

    r = cfg.rl
    if r.algorithm == "grpo":
        from trl import GRPOConfig as Config
        from trl import GRPOTrainer as Trainer
    else:
        from trl import RLOOConfig as Config
        from trl import RLOOTrainer as Trainer
    tok = load_tokenizer(policy, cfg.trust_remote_code)
    args = Config(
        output_dir=str(out / "checkpoints"), max_steps=r.steps, learning_rate=r.learning_rate,
        per_device_train_batch_size=r.prompts_per_step * r.num_generations, gradient_accumulation_steps=1,
        num_generations=r.num_generations, max_completion_length=r.max_new_tokens, temperature=r.temperature,
        top_p=1.0, beta=r.beta, logging_steps=1, save_strategy="steps", save_steps=max(r.steps // 3, 1),
        save_total_limit=1, seed=cfg.seed, reward_weights=[1.0, 0.0], lr_scheduler_type="constant",
        model_init_kwargs={"dtype": "float32", "trust_remote_code": cfg.trust_remote_code}, **cpu_safe_args(),
    )
    trainer = Trainer(model=str(policy), reward_funcs=[reward_fn, refusal_monitor], args=args,
                      train_dataset=Dataset.from_list(prompt_rows(cfg)), processing_class=tok)
    resume = _last_checkpoint(out / "checkpoints")
    if resume:
        console.print(f"resuming RL from {resume}")
    t0 = time.time()
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    seconds = time.time() - t0
    trainer.model.save_pretrained(str(out / "model"), safe_serialization=True)
    tok.save_pretrained(str(out / "model"))
    logs = trainer.state.log_history
    data = curves(logs)
    (out / "curves.json").write_text(json.dumps({"log_history": logs, "curves": data}, indent=2), encoding="utf-8")
    (out / "curves.svg").write_text(curves_svg(f"RL ({r.algorithm}, reward: {r.reward})", data), encoding="utf-8")
    first = lambda k: round(data[k][0][1], 4) + 0.0 if data[k] else None  # noqa: E731  (+ 0.0: no "-0.0")
    last = lambda k: round(data[k][-1][1], 4) + 0.0 if data[k] else None  # noqa: E731
    return {"steps": trainer.state.global_step, "train seconds": round(seconds, 1),
            **{f"{name} (first -> last step)": f"{first(name)} -> {last(name)}" for name in CURVES}}


def main(cfg: RunConfig) -> dict:
    r = cfg.rl
    run = open_run(cfg, "rl")
    out = run.stage_dir("rl")
    if (done := finished_model_stage(run, "rl")) is not None:
        return done
    policy = local_path(policy_spec(cfg, run))
    reward_fn = build_reward(r.reward, cfg, run)
    run.mark("rl", "running")
    console.print(f"[bold]rl[/]: {r.algorithm.upper()} from {policy} against '{r.reward}', {r.steps} steps x "
                  f"{r.prompts_per_step} prompts x {r.num_generations} samples, KL beta {r.beta}")
    result = {**train(cfg, policy, reward_fn, out), "curves": str(out / "curves.svg"), "model": str(out / "model")}
    run.mark("rl", "done", summary=result)
    summary("RL summary", result)
    return result
