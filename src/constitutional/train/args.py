"""The one place trainer arguments are built, for every trainer we call.

``training_args(cfg, stage, output_dir)`` returns the keyword arguments of
TRL's ``SFTConfig``, ``RewardConfig``, ``DPOConfig``, ``RLOOConfig`` or
``GRPOConfig`` for that stage: what every trainer shares (device, dtype,
logging, seed, the CPU-safe choices TRL's GPU defaults get wrong), then what
the stage's config section sets.
"""

from __future__ import annotations

from pathlib import Path

import torch

from constitutional.core.config import RunConfig, TrainConfig
from constitutional.models.hf import bf16_is_fast

# Runs here are tens of optimizer steps; the curves and summaries read every logged step.
LOGGING_STEPS = 1
# One checkpoint is enough to resume from; more would each cost a full model plus optimizer state.
SAVE_TOTAL_LIMIT = 1


def use_bf16(t: TrainConfig) -> bool:
    return bf16_is_fast() if t.bf16 == "auto" else bool(t.bf16)


def common_args(cfg: RunConfig, output_dir: Path) -> dict:
    """Settings every trainer gets, chosen deliberately (TRL's defaults assume a GPU:
    bf16 on, gradient checkpointing on, which is slower here and turns off the KV cache in generation)."""
    t = cfg.train
    return {"output_dir": str(output_dir), "seed": cfg.seed, "logging_steps": LOGGING_STEPS,
            "use_cpu": not torch.cuda.is_available(), "bf16": use_bf16(t), "fp16": False, "report_to": [],
            "dataloader_num_workers": 0, "activation_checkpointing": t.gradient_checkpointing,
            "disable_tqdm": False, "warmup_steps": t.warmup}


def _checkpointed(save_steps: int) -> dict:
    return {"save_strategy": "steps", "save_steps": save_steps, "save_total_limit": SAVE_TOTAL_LIMIT,
            "save_only_model": False}


def training_args(cfg: RunConfig, stage: str, output_dir: Path) -> dict:
    """Keyword arguments for the TRL config class of ``stage`` (sft, reward, cost, dpo or rl)."""
    args = common_args(cfg, output_dir)
    if stage == "sft":
        s = cfg.sft
        args.update(num_train_epochs=s.epochs, learning_rate=s.learning_rate, per_device_train_batch_size=s.batch_size,
                    gradient_accumulation_steps=s.grad_accum, lr_scheduler_type="cosine", max_length=s.max_length,
                    train_sampling_strategy="group_by_length" if s.group_by_length else "random",
                    **_checkpointed(s.save_steps))
    elif stage == "reward":
        r = cfg.reward
        # a few dozen pairs train in a minute or two: restarting is cheaper than checkpointing
        args.update(num_train_epochs=r.epochs, learning_rate=r.learning_rate, per_device_train_batch_size=r.batch_size,
                    lr_scheduler_type="cosine", max_length=r.max_length, save_strategy="no")
    elif stage == "cost":
        c = cfg.safe_rlhf  # the cost model trains like the preference model: small, fast, restarted if killed
        args.update(num_train_epochs=c.cost_epochs, learning_rate=c.cost_learning_rate,
                    per_device_train_batch_size=c.cost_batch_size, lr_scheduler_type="cosine",
                    max_length=cfg.reward.max_length, save_strategy="no")
    elif stage == "dpo":
        d = cfg.dpo
        args.update(num_train_epochs=d.epochs, learning_rate=d.learning_rate, per_device_train_batch_size=d.batch_size,
                    beta=d.beta, max_length=d.max_length, lr_scheduler_type="cosine", **_checkpointed(d.save_steps))
    elif stage == "rl":
        r = cfg.rl
        # constant learning rate: a dozen steps leave no room for a schedule; top_p 1: RLOO/GRPO's
        # importance ratios assume the policy's own distribution, not a truncated one
        args.update(max_steps=r.steps, learning_rate=r.learning_rate,
                    per_device_train_batch_size=r.prompts_per_step * r.num_generations, gradient_accumulation_steps=1,
                    num_generations=r.num_generations, max_completion_length=r.max_new_tokens,
                    temperature=r.temperature, top_p=1.0, beta=r.beta, lr_scheduler_type="constant",
                    model_init_kwargs={"dtype": "float32", "trust_remote_code": cfg.trust_remote_code},
                    **_checkpointed(r.save_steps))
    else:
        raise ValueError(f"no trainer arguments for stage {stage!r}")
    return args


def lora_config(cfg: RunConfig):
    """PEFT LoRA on every linear layer, from the shared ``train`` settings."""
    from peft import LoraConfig

    t = cfg.train
    return LoraConfig(r=t.lora_r, lora_alpha=t.lora_alpha, lora_dropout=t.lora_dropout, task_type="CAUSAL_LM",
                      target_modules="all-linear")
