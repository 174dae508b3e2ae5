"""SFT throughput on the embedded model, same data and steps, in one process:
TRL's SFTTrainer as it comes (its fused LM head scores every position on a
CPU) against the project's (``constitutional.train.trainers.SFTTrainer``: the
compact head, labeled positions only), full fine-tuning and LoRA.

    .venv/bin/python benchmarks/bench_sft.py --steps 6
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM
from trl import SFTConfig
from trl import SFTTrainer as TRLSFTTrainer

from constitutional.models import local_path
from constitutional.models.hf import load_tokenizer
from constitutional.prompts import load_prompts
from constitutional.train.trainers import SFTTrainer


def rows(n: int) -> list[dict]:
    # helpful prompts with a fixed ~150-token answer: realistic lengths, nothing generated
    answer = ("Here is a short, practical answer with a few concrete steps and one caveat to keep in mind. " * 8).strip()
    return [{"prompt": list(p.messages), "completion": [{"role": "assistant", "content": answer}]}
            for p in load_prompts("helpful", "train", n)]


def run(trainer_cls: type, lora: bool, steps: int, batch: int) -> tuple[float, float]:
    base = local_path("smollm2-135m")
    tok = load_tokenizer(base)
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    peft_config = None
    if lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=16, lora_alpha=32, task_type="CAUSAL_LM", target_modules="all-linear")
    with tempfile.TemporaryDirectory() as out:
        args = SFTConfig(output_dir=out, max_steps=steps, per_device_train_batch_size=batch, learning_rate=1e-5,
                         logging_steps=1, save_strategy="no", report_to=[], bf16=False,
                         activation_checkpointing=False, use_cpu=True, max_length=384, disable_tqdm=True)
        trainer = trainer_cls(model=model, args=args, train_dataset=Dataset.from_list(rows(steps * batch)),
                             processing_class=tok, peft_config=peft_config)
        t = time.perf_counter()
        trainer.train()
        dt = time.perf_counter() - t
        tokens = max(float(h["num_tokens"]) for h in trainer.state.log_history if "num_tokens" in h)
    return dt, tokens


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch", type=int, default=4)
    args = ap.parse_args()
    variants = (("full, TRL's head", TRLSFTTrainer, False), ("full, compact head", SFTTrainer, False),
                ("LoRA r16, compact head", SFTTrainer, True))
    results = {name: run(cls, lora, args.steps, args.batch) for name, cls, lora in variants}
    base = None
    print(f"{'variant':<24} {'seconds':>8} {'tokens':>8} {'tok/s':>8} {'vs first':>9}")
    for name, (dt, tokens) in results.items():
        base = base or tokens / dt
        print(f"{name:<24} {dt:8.1f} {tokens:8.0f} {tokens / dt:8.1f} {tokens / dt / base:8.2f}x")


if __name__ == "__main__":
    main()
