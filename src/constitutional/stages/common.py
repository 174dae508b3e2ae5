"""What every stage shares: opening the run, the cached model, seeded rngs."""

from __future__ import annotations

import hashlib
import random

from ..config import RunConfig, dump_config
from ..models import load_generator
from ..errors import ConstitutionalError
from ..runs import CachedGenerator, RecordStore, RunDir
from ..ui import console


def open_run(cfg: RunConfig, stage: str) -> RunDir:
    """The run directory, with the resolved config written twice: at the root
    (the latest command) and in the stage's folder (what produced its files,
    even when later commands on the same run change other settings)."""
    run = RunDir(cfg.run_dir)
    text = dump_config(cfg)
    (run.root / "config.yaml").write_text(text, encoding="utf-8")
    (run.stage_dir(stage) / "config.yaml").write_text(text, encoding="utf-8")
    return run


def cached_model(cfg: RunConfig, run: RunDir, spec: str | None = None) -> CachedGenerator:
    gen = load_generator(spec or cfg.model, dtype=cfg.dtype, batch_size=cfg.batch_size,
                         trust_remote_code=cfg.trust_remote_code,
                         **({"concurrency": cfg.concurrency} if (spec or cfg.model).startswith("openai:") else {}))
    return CachedGenerator(gen, run.cache(), chunk=cfg.batch_size)


def rng_for(*parts) -> random.Random:
    """An rng that depends only on ``parts`` (seed, prompt id, round, ...), so
    draws don't shift when prompts are added, reordered or resumed."""
    h = hashlib.sha256(repr(parts).encode()).digest()
    return random.Random(int.from_bytes(h[:8], "big"))


def policy_spec(cfg: RunConfig, run: RunDir, override: str | None = None) -> str:
    """The model later stages start from: ``override``, else this run's SFT
    checkpoint when one was trained, else the run's model."""
    if override:
        return override
    sft = run.root / "sft" / "model"
    return f"hf:{sft}" if (sft / "config.json").is_file() else cfg.model


TUNED_STAGES = ("rl", "dpo", "sft")  # latest first: what a chained run produced last


def final_model(run: RunDir) -> str | None:
    """The last tuned model of the run (RL, else DPO, else SFT), as a spec."""
    for stage in TUNED_STAGES:
        path = run.root / stage / "model"
        if (path / "config.json").is_file():
            return f"hf:{path}"
    return None


def finished_model_stage(run: RunDir, stage: str) -> dict | None:
    """The summary of a training stage that already saved its model (None:
    it has not): a rerun of a chained run skips finished training."""
    model = run.root / stage / "model"
    if run.is_done(stage) and (model / "config.json").is_file():
        console.print(f"[bold]{stage}[/]: already done, model in {model}")
        return run.manifest()["stages"][stage].get("summary", {})
    return None


def load_labels(run: RunDir) -> list[dict]:
    """The run's labeled preference pairs (the feedback stage's output)."""
    from .feedback import SCHEMA

    path = run.root / "feedback" / "labels.jsonl"
    labels = list(RecordStore(path, SCHEMA))
    if not labels:
        raise ConstitutionalError("no labeled pairs", file=path, hint="run the pairs and feedback stages first")
    return labels
