"""SFT on SL-CAI revisions mixed with helpful responses (Bai et al. 2022, sec. 3.1).

The paper fine-tunes on revisions plus helpfulness samples from the
helpful model so harmlessness training does not erode helpfulness. Here the
helpful samples are the base model's own answers to the helpful prompt set's
*train* split (cached like every model call), ``helpful_ratio`` per revision.

Examples are TRL conversational prompt/completion pairs, so the loss covers
only the assistant's answer. Training is TRL's ``SFTTrainer``; with
``lora: true`` the adapters are merged before saving, so the checkpoint in
``<run>/sft/model`` is a plain safetensors model usable as ``hf:<path>``.
A killed run resumes from the newest checkpoint in ``<run>/sft/checkpoints``.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from ..config import RunConfig
from ..errors import ConstitutionalError
from ..models import SamplingParams, local_path
from ..prompts import load_prompts
from ..runs import RecordStore
from ..ui import console, progress, summary
from .common import cached_model, finished_model_stage, open_run, rng_for
from .sl_cai import SCHEMA as SL_CAI_SCHEMA
from .sl_cai import revision_examples

HELPFUL_SCHEMA = "constitutional.helpful/1"


def helpful_examples(cfg: RunConfig, run, n: int) -> list[dict]:
    if n == 0:
        return []
    prompts = load_prompts(cfg.sft.helpful_prompts, "train")
    rng_for(cfg.seed, "helpful-mix").shuffle(prompts)
    prompts = prompts[:n]
    params = SamplingParams(max_new_tokens=cfg.sft.helpful_tokens, temperature=0.3, seed=cfg.seed)
    model = cached_model(cfg, run)
    with progress("helpful answers", len(prompts)) as advance:
        answers = model.generate([list(p.messages) for p in prompts], params, advance)
    store = RecordStore(run.stage_dir("sft") / "helpful.jsonl", HELPFUL_SCHEMA)
    have = store.ids()
    out = []
    for p, a in zip(prompts, answers):
        if p.id not in have:
            store.append({"id": p.id, "messages": list(p.messages), "response": a, "model": model.name,
                          "params": params.to_dict()})
        if a.strip():
            out.append({"id": p.id, "prompt": list(p.messages), "completion": [{"role": "assistant", "content": a}]})
    return out


def build_dataset(cfg: RunConfig, run) -> tuple[list[dict], dict]:
    """Training rows: SL-CAI revisions and/or context-distilled answers
    (``sft.data``), plus ``helpful_ratio`` helpful answers of the base model."""
    targets: list[dict] = []
    counts: dict[str, int] = {}
    if cfg.sft.data in ("sl_cai", "both"):
        store = RecordStore(run.root / "sl_cai" / "records.jsonl", SL_CAI_SCHEMA)
        records = list(store)
        if not records:
            raise ConstitutionalError("no SL-CAI records to train on", file=store.path,
                                      hint="run the sl_cai stage first (constitutional sl-cai CONFIG)")
        revisions = revision_examples(records, cfg.sft.revisions, cfg.sft.drop_flagged)
        if not revisions:
            raise ConstitutionalError("every SL-CAI revision was flagged by the quality checks", file=store.path,
                                      hint="set sft.drop_flagged=false, add rounds, or use a stronger critic model")
        targets += revisions
        counts["harmlessness examples"] = len(revisions)
    if cfg.sft.data in ("distill", "both"):
        from .distill import distill_examples

        distilled = distill_examples(cfg, run)
        if not distilled:
            raise ConstitutionalError("no distilled targets to train on", file=run.root / "distill",
                                      hint="run the distill stage first (constitutional distill CONFIG)")
        targets += distilled
        for kind in sorted({e["kind"] for e in distilled}):
            counts[f"distilled {kind} examples"] = sum(e["kind"] == kind for e in distilled)
    ratio = cfg.sft.helpful_ratio
    if ratio is None:
        ratio = 0.0 if cfg.sft.data == "distill" else 0.5
    helpful = helpful_examples(cfg, run, math.ceil(ratio * len(targets)))
    counts["helpful examples"] = len(helpful)
    rows = [{"prompt": e["prompt"], "completion": e["completion"]} for e in targets + helpful]
    rng_for(cfg.seed, "sft-shuffle").shuffle(rows)
    return rows, counts


def train(cfg: RunConfig, rows: list[dict], out: Path) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    from ..models.hf import bf16_is_fast, load_tokenizer

    s = cfg.sft
    base = local_path(cfg.model)
    tokenizer = load_tokenizer(base, cfg.trust_remote_code)
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32, use_safetensors=True,
                                                 trust_remote_code=cfg.trust_remote_code)
    ckpt_dir = out / "checkpoints"
    args = SFTConfig(
        output_dir=str(ckpt_dir), num_train_epochs=s.epochs, learning_rate=s.learning_rate,
        per_device_train_batch_size=s.batch_size, gradient_accumulation_steps=s.grad_accum,
        lr_scheduler_type="cosine", warmup_steps=0.05, logging_steps=5, save_strategy="steps",
        save_steps=s.save_steps, save_total_limit=1, bf16=bf16_is_fast() if s.bf16 is None else s.bf16, fp16=False,
        activation_checkpointing=s.gradient_checkpointing, max_length=s.max_length, seed=cfg.seed,
        report_to=[], dataloader_num_workers=0, use_cpu=not torch.cuda.is_available(),
        disable_tqdm=False, save_only_model=False,
    )
    peft_config = None
    if s.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=s.lora_r, lora_alpha=s.lora_alpha, lora_dropout=0.05, task_type="CAUSAL_LM",
                                 target_modules="all-linear")
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                         peft_config=peft_config)
    resume = _last_checkpoint(ckpt_dir)
    if resume:
        console.print(f"resuming SFT from {resume}")
    t0 = time.time()
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    seconds = time.time() - t0
    trained = trainer.model
    if s.lora:
        trained = trained.merge_and_unload()
    model_dir = out / "model"
    trained.save_pretrained(str(model_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(model_dir))
    logs = trainer.state.log_history
    losses = [h["loss"] for h in logs if "loss" in h]
    tokens = max((float(h["num_tokens"]) for h in logs if "num_tokens" in h), default=0.0)
    return {"steps": trainer.state.global_step, "first loss": round(losses[0], 4) if losses else None,
            "final loss": round(result.training_loss, 4), "train seconds": round(seconds, 1),
            "train tokens/s": round(tokens / seconds, 1) if tokens and not resume else "n/a (resumed)",
            "model": str(model_dir)}


def _last_checkpoint(ckpt_dir: Path) -> Path | None:
    if not ckpt_dir.is_dir():
        return None
    ckpts = [p for p in ckpt_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return max(ckpts, key=lambda p: int(p.name.split("-")[-1])) if ckpts else None


def main(cfg: RunConfig) -> dict:
    run = open_run(cfg, "sft")
    out = run.stage_dir("sft")
    if (done := finished_model_stage(run, "sft")) is not None:
        return done
    run.mark("sft", "running")
    rows, counts = build_dataset(cfg, run)
    with (out / "train.jsonl").open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    console.print(f"[bold]sft[/]: {', '.join(f'{v} {k}' for k, v in counts.items())}; "
                  f"{'LoRA' if cfg.sft.lora else 'full'} fine-tuning of {cfg.model}")
    result = {**counts, **train(cfg, rows, out)}
    run.mark("sft", "done", summary=result)
    summary("SFT summary", result)
    return result
