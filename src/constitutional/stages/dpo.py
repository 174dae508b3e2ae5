"""DPO on the run's AI preferences: the cheaper alternative to a preference
model plus RL (Rafailov et al. 2023), with TRL's DPOTrainer.

Each labeled pair is oriented so the preferred reply is ``chosen``; pairs
whose label is within ``dpo.min_confidence`` of a coin flip are dropped. Soft
labels enter as per-pair weights |2p - 1| (``WeightedDPOTrainer``; the module
doc of ``constitutional.train.losses`` says why weights rather than smoothing).
Hard labels (revision, contrastive, human) weigh 1. The reference is the
policy DPO starts from (this run's SFT model if trained). Output:
``<run>/dpo/model``.
"""

from __future__ import annotations

import time
from pathlib import Path

from constitutional.core.config import RunConfig
from constitutional.core.errors import ConstitutionalError
from constitutional.core.ui import console, summary
from constitutional.models import local_path
from constitutional.models.hf import load_tokenizer
from constitutional.stages.artifacts import begin_stage, load_labels, policy_spec
from constitutional.train.args import lora_config, training_args
from constitutional.train.checkpoints import last_checkpoint, save_trained


def dpo_rows(labels: list[dict], min_confidence: float) -> list[dict]:
    rows = []
    for r in labels:
        p = float(r["label"])
        if max(p, 1 - p) < min_confidence:
            continue
        good, bad = (r["a"], r["b"]) if p > 0.5 else (r["b"], r["a"])
        rows.append({"prompt": r["messages"], "chosen": [{"role": "assistant", "content": good}],
                     "rejected": [{"role": "assistant", "content": bad}], "weight": abs(2 * p - 1)})
    return rows


def train(cfg: RunConfig, rows: list[dict], policy: Path, out: Path) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import DPOConfig

    from constitutional.train.trainers import WeightedDPOTrainer

    d = cfg.dpo
    tok = load_tokenizer(policy, cfg.trust_remote_code)
    model = AutoModelForCausalLM.from_pretrained(str(policy), dtype=torch.float32, trust_remote_code=cfg.trust_remote_code)
    args = DPOConfig(**training_args(cfg, "dpo", out / "checkpoints"))
    trainer = WeightedDPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok,
                                 peft_config=lora_config(cfg) if d.lora else None)
    resume = last_checkpoint(out / "checkpoints")
    t0 = time.time()
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    trained = trainer.model.merge_and_unload() if d.lora else trainer.model
    save_trained(trainer, trained, tok, out / "model", out / "checkpoints")
    logs = trainer.state.log_history
    acc = [h["rewards/accuracies"] for h in logs if "rewards/accuracies" in h]
    margins = [h["rewards/margins"] for h in logs if "rewards/margins" in h]
    return {"steps": trainer.state.global_step, "final loss": round(result.training_loss, 4),
            "reward accuracy (last log)": round(acc[-1], 4) if acc else None,
            "reward margin (last log)": round(margins[-1], 4) if margins else None,
            "train seconds": round(time.time() - t0, 1), "processes": trainer.args.world_size}


def main(cfg: RunConfig) -> dict:
    d = cfg.dpo
    run, done = begin_stage(cfg, "dpo")
    if done is not None:
        return done
    out = run.stage_dir("dpo")
    labels = [r for r in load_labels(run) if r["kind"] in d.kinds]
    if not labels:
        raise ConstitutionalError(f"no labeled pairs of kind {', '.join(d.kinds)}", field="dpo.kinds",
                                  hint="the run's pairs have kinds " + ", ".join(sorted({r["kind"] for r in load_labels(run)})))
    rows = dpo_rows(labels, d.min_confidence)
    if not rows:
        raise ConstitutionalError(f"every label is within {d.min_confidence} of a coin flip", field="dpo.min_confidence",
                                  hint="lower dpo.min_confidence, or use a stronger feedback model")
    policy = local_path(policy_spec(cfg, run))
    run.mark("dpo", "running")
    console.print(f"[bold]dpo[/]: {len(rows)} of {len(labels)} pairs (confidence >= {d.min_confidence}), "
                  f"mean weight {sum(r['weight'] for r in rows) / len(rows):.3f}, from {policy}")
    result = {"pairs used": len(rows), "pairs dropped (too close)": len(labels) - len(rows),
              **train(cfg, rows, policy, out), "model": str(out / "model")}
    run.mark("dpo", "done", summary=result)
    summary("DPO summary", result)
    return result
