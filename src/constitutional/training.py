"""What we add to TRL's trainers: soft preference labels.

TRL's ``RewardTrainer`` and ``DPOTrainer`` take hard preferences (chosen
beats rejected). RL-CAI's AI feedback gives a probability instead, so:

- ``SoftRewardTrainer``: the preference-model loss is the binary cross-entropy
  of sigmoid(r_a - r_b) against the soft target p = P(a better than b), as in
  Bai et al. 2022 sec. 4.1. With p = 1 it is TRL's loss exactly. Everything
  else (tokenization, metrics, checkpoints) is TRL's.
- ``WeightedDPOTrainer``: each pair, oriented so the preferred reply is
  ``chosen``, gets a weight w = |2p - 1|. Why weights, not label smoothing: at
  the start of DPO (policy = reference, margin 0) the gradient of the per-pair
  soft-label (conservative DPO) loss is beta * (p - 1/2), i.e. the standard DPO
  gradient times |2p - 1|; a 50/50 label teaches nothing, a sure one counts
  fully. TRL 1.16 only has one global smoothing value and applies it to the
  robust/EXO losses, not per pair. The weighted loss is computed pair by pair
  through TRL's own loss, so its reference handling and metrics stay TRL's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from trl import DPOTrainer, RewardTrainer
from trl.trainer.dpo_trainer import DataCollatorForPreference as DPOCollator
from trl.trainer.reward_trainer import DataCollatorForPreference as RewardCollator


def soft_preference_loss(r_a: torch.Tensor, r_b: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean BCE of sigmoid(r_a - r_b) against P(a better than b)."""
    return F.binary_cross_entropy_with_logits(r_a - r_b, target.to(r_a.dtype))


@dataclass
class SoftRewardCollator(RewardCollator):
    def torch_call(self, examples):
        out = super().torch_call(examples)
        out["target"] = torch.tensor([float(e["target"]) for e in examples])
        return out


class SoftRewardTrainer(RewardTrainer):
    """TRL's RewardTrainer with a ``target`` column: P(chosen better than rejected)."""

    def __init__(self, *args, **kwargs):
        tokenizer = kwargs["processing_class"]
        kwargs.setdefault("data_collator", SoftRewardCollator(pad_token_id=tokenizer.pad_token_id))
        super().__init__(*args, **kwargs)

    def _set_signature_columns_if_needed(self):  # keep ``target`` through the Trainer's column filter
        super()._set_signature_columns_if_needed()
        if "target" not in self._signature_columns:
            self._signature_columns = [*self._signature_columns, "target"]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        target = inputs.pop("target")
        _, outputs = super().compute_loss(model, inputs, return_outputs=True)  # TRL's metrics and token counts
        r_a, r_b = torch.chunk(outputs.logits.squeeze(-1), chunks=2)
        loss = soft_preference_loss(r_a, r_b, target)
        if self.args.center_rewards_coefficient is not None:
            loss = loss + self.args.center_rewards_coefficient * torch.mean((r_a + r_b) ** 2)
        return (loss, outputs) if return_outputs else loss


@dataclass
class WeightedDPOCollator(DPOCollator):
    def torch_call(self, examples):
        out = super().torch_call(examples)
        out["weight"] = torch.tensor([float(e["weight"]) for e in examples])
        return out


class WeightedDPOTrainer(DPOTrainer):
    """TRL's DPOTrainer with a per-pair ``weight`` column (see module doc)."""

    def __init__(self, *args, **kwargs):
        tokenizer = kwargs["processing_class"]
        args_ = kwargs["args"]
        kwargs.setdefault("data_collator", WeightedDPOCollator(pad_token_id=tokenizer.pad_token_id,
                                                               max_length=args_.max_length))
        super().__init__(*args, **kwargs)

    def _set_signature_columns_if_needed(self):  # keep ``weight`` through the Trainer's column filter
        super()._set_signature_columns_if_needed()
        if "weight" not in self._signature_columns:
            self._signature_columns = [*self._signature_columns, "weight"]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        weight = inputs.pop("weight")
        n = weight.shape[0]
        total = weight.sum().clamp(min=1e-8)
        loss = 0.0
        for i in range(n):  # rows are [chosen_0..chosen_n-1, rejected_0..rejected_n-1]
            if weight[i] <= 0:
                continue
            one = {k: (v[[i, n + i]] if v.shape[0] == 2 * n else v[i : i + 1]) for k, v in inputs.items()}
            loss = loss + weight[i] / total * super().compute_loss(model, one)
        if not torch.is_tensor(loss):  # every weight was zero: a zero loss that still has a graph
            loss = sum(p.sum() for p in model.parameters() if p.requires_grad) * 0.0
        return loss


def cpu_safe_args(bf16: bool | None = None) -> dict:
    """Trainer settings we always choose deliberately (TRL's defaults assume a GPU)."""
    from .models.hf import bf16_is_fast

    return {"use_cpu": not torch.cuda.is_available(), "bf16": bf16_is_fast() if bf16 is None else bf16,
            "fp16": False, "report_to": [], "dataloader_num_workers": 0, "activation_checkpointing": False,
            "disable_tqdm": False}
