"""Resuming: the newest ``checkpoint-N`` a trainer left in its output directory, and clearing
them once the stage has saved its model (a finished stage resumes from nothing; each
checkpoint is a full model plus optimizer state, about 1.6 GB for the 135M model)."""

from __future__ import annotations

import shutil
from pathlib import Path


def last_checkpoint(ckpt_dir: Path) -> Path | None:
    """``checkpoint-25`` over ``checkpoint-5`` (by step, not by name); None when there is none."""
    if not ckpt_dir.is_dir():
        return None
    ckpts = [p for p in ckpt_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return max(ckpts, key=lambda p: int(p.name.split("-")[-1])) if ckpts else None


def clear_checkpoints(ckpt_dir: Path) -> None:
    """Remove the resume checkpoints of a stage whose final model is saved."""
    shutil.rmtree(ckpt_dir, ignore_errors=True)



def save_trained(trainer, model, tokenizer, model_dir: Path, ckpt_dir: Path | None = None) -> None:
    """Save a stage's final ``model`` (safetensors plus tokenizer) and clear its resume checkpoints.
    Under ``accelerate launch`` every process calls the trainer's ``save_model``, which gathers FSDP or
    ZeRO-3 shards into one checkpoint and writes it from the main process; every process then waits
    until the files are there."""
    from constitutional.core.dist import barrier, is_main, world_size

    if world_size() > 1:
        trainer.save_model(str(model_dir))
    elif is_main():
        model.save_pretrained(str(model_dir), safe_serialization=True)
    if is_main():
        tokenizer.save_pretrained(str(model_dir))
        if ckpt_dir is not None:
            clear_checkpoints(ckpt_dir)
    barrier()
