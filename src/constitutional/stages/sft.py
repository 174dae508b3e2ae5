"""SFT on the run's training targets (``sft.data``: context-distilled answers,
SL-CAI revisions, or both), optionally mixed with the base model's helpful
answers (Bai et al. 2022, sec. 3.1).

The paper fine-tunes on revisions plus helpfulness samples from the
helpful model so harmlessness training does not erode helpfulness. Here the
helpful samples are the base model's own answers to the helpful prompt set's
*train* split (cached like every model call), ``helpful_ratio`` per target;
distilled data answers helpful prompts itself, so the default ratio is 0.

Examples are TRL conversational prompt/completion pairs, so the loss covers
only the assistant's answer. Training is TRL's ``SFTTrainer`` (with the
compact LM head on CPUs: ``constitutional.train.lm_head``); with
``lora: true`` the adapters are merged before saving, so the checkpoint in
``<run>/sft/model`` is a plain safetensors model usable as ``hf:<path>``.
A killed run resumes from the newest checkpoint in ``<run>/sft/checkpoints``.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from constitutional.core.config import RunConfig
from constitutional.core.dist import barrier, is_main
from constitutional.core.errors import ConstitutionalError
from constitutional.core.runs import RecordStore
from constitutional.core.seeding import rng_for
from constitutional.core.ui import console, progress, summary
from constitutional.models import SamplingParams, local_path
from constitutional.models.cached import cached_model
from constitutional.models.hf import load_tokenizer
from constitutional.prompts import load_prompts
from constitutional.stages.artifacts import (
    HELPFUL_SCHEMA,
    begin_stage,
    distill_examples,
    revision_examples,
    sl_cai_store,
)
from constitutional.train.args import lora_config, training_args
from constitutional.train.checkpoints import last_checkpoint, save_trained


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
        store = sl_cai_store(run)
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
        distilled = distill_examples(run)
        if not distilled:
            raise ConstitutionalError("no distilled targets to train on", file=run.root / "distill",
                                      hint="run the distill stage first (constitutional distill CONFIG)")
        targets += distilled
        for kind in sorted({e["kind"] for e in distilled}):
            counts[f"distilled {kind} examples"] = sum(e["kind"] == kind for e in distilled)
    helpful = helpful_examples(cfg, run, math.ceil(cfg.sft.helpful_ratio * len(targets)))
    counts["helpful examples"] = len(helpful)
    rows = [{"prompt": e["prompt"], "completion": e["completion"]} for e in targets + helpful]
    rng_for(cfg.seed, "sft-shuffle").shuffle(rows)
    return rows, counts


def train(cfg: RunConfig, rows: list[dict], out: Path) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig

    from constitutional.train.trainers import SFTTrainer

    s = cfg.sft
    base = local_path(cfg.model)
    tokenizer = load_tokenizer(base, cfg.trust_remote_code)
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32, use_safetensors=True,
                                                 trust_remote_code=cfg.trust_remote_code)
    ckpt_dir = out / "checkpoints"
    args = SFTConfig(**training_args(cfg, "sft", ckpt_dir))
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                         peft_config=lora_config(cfg) if s.lora else None)
    resume = last_checkpoint(ckpt_dir)
    if resume:
        console.print(f"resuming SFT from {resume}")
    t0 = time.time()
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    seconds = time.time() - t0
    trained = trainer.model
    if s.lora:
        trained = trained.merge_and_unload()
    model_dir = out / "model"
    save_trained(trainer, trained, tokenizer, model_dir, ckpt_dir)
    logs = trainer.state.log_history
    losses = [h["loss"] for h in logs if "loss" in h]
    tokens = max((float(h["num_tokens"]) for h in logs if "num_tokens" in h), default=0.0)
    return {"steps": trainer.state.global_step, "first loss": round(losses[0], 4) if losses else None,
            "final loss": round(result.training_loss, 4), "train seconds": round(seconds, 1),
            "train tokens/s": round(tokens / seconds, 1) if tokens and not resume else "n/a (resumed)",
            "processes": trainer.args.world_size, "model": str(model_dir)}


def main(cfg: RunConfig) -> dict:
    run, done = begin_stage(cfg, "sft")
    if done is not None:
        return done
    out = run.stage_dir("sft")
    run.mark("sft", "running")
    counts: dict = {}
    if is_main():  # under accelerate launch the main process builds the data, every process trains on it
        rows, counts = build_dataset(cfg, run)
        with (out / "train.jsonl").open("w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    barrier()
    if not is_main():
        rows = [json.loads(line) for line in (out / "train.jsonl").open(encoding="utf-8")]
    console.print(f"[bold]sft[/]: {', '.join(f'{v} {k}' for k, v in counts.items())}; "
                  f"{'LoRA' if cfg.sft.lora else 'full'} fine-tuning of {cfg.model}")
    result = {**counts, **train(cfg, rows, out)}
    run.mark("sft", "done", summary=result)
    summary("SFT summary", result)
    return result
