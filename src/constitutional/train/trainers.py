"""What we add to TRL's trainers: soft preference labels (the losses are in ``losses``).

- ``SoftRewardTrainer``: TRL's ``RewardTrainer`` with a ``target`` column,
  P(chosen better than rejected), and ``soft_preference_loss``. Everything
  else (tokenization, metrics, checkpoints) is TRL's.
- ``WeightedDPOTrainer``: TRL's ``DPOTrainer`` with a per-pair ``weight``
  column and ``weighted_dpo_loss``, in one batched forward pass of the policy
  and one of the reference, as TRL's own loss. TRL 1.16 has no per-pair
  weight (one global label smoothing, for the robust/EXO losses only), so the
  loss is computed here from the same fused log-probabilities TRL uses; its
  reward metrics are logged under TRL's names. Only TRL's default loss
  (``sigmoid``, reverse KL, no length weighting) has a weighted form here.
- ``CostTrainer``: TRL's ``RewardTrainer`` as Safe RLHF's cost model, with
  per-reply safety signs (``constitutional.train.safe``).
- ``SFTTrainer``: TRL's, with the compact LM head where TRL's fused head scores
  every position (``constitutional.train.lm_head``); ``WeightedDPOTrainer``
  gets the same head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from accelerate.utils import is_peft_model
from trl import DPOTrainer, RewardTrainer
from trl import SFTTrainer as TRLSFTTrainer
from trl.trainer.dpo_trainer import DataCollatorForPreference as DPOCollator
from trl.trainer.reward_trainer import DataCollatorForPreference as RewardCollator

from constitutional.train.lm_head import compact_lm_head
from constitutional.train.losses import soft_preference_loss, weighted_dpo_loss
from constitutional.train.safe import cost_loss


def with_column(collator: type, *columns: str) -> type:
    """A TRL preference collator that also batches float ``columns`` of the examples."""

    @dataclass
    class Collator(collator):
        def torch_call(self, examples):
            out = super().torch_call(examples)
            for column in columns:
                out[column] = torch.tensor([float(e[column]) for e in examples])
            return out

    return Collator


class KeepsColumn:
    """Mixin: keep ``columns`` through the Trainer's filter of unused dataset columns."""

    columns: tuple[str, ...]

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        missing = [c for c in self.columns if c not in self._signature_columns]
        if missing:
            self._signature_columns = [*self._signature_columns, *missing]


class CompactHead:
    """Mixin for trainers that patch TRL's fused LM head (temperature 1): swap in the compact head on CPUs."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        compact_lm_head(self.model.get_base_model() if is_peft_model(self.model) else self.model)
        if getattr(self, "ref_model", None) is not None:
            compact_lm_head(self.ref_model)


class SFTTrainer(CompactHead, TRLSFTTrainer):
    """TRL's SFTTrainer with the compact LM head (the module doc)."""


class SoftRewardTrainer(KeepsColumn, RewardTrainer):
    """TRL's RewardTrainer with a ``target`` column: P(chosen better than rejected)."""

    columns = ("target",)

    def __init__(self, *args, **kwargs):
        tokenizer = kwargs["processing_class"]
        kwargs.setdefault("data_collator", with_column(RewardCollator, "target")(pad_token_id=tokenizer.pad_token_id))
        super().__init__(*args, **kwargs)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        target = inputs.pop("target")
        _, outputs = super().compute_loss(model, inputs, return_outputs=True)  # TRL's metrics and token counts
        r_a, r_b = torch.chunk(outputs.logits.squeeze(-1), chunks=2)
        loss = soft_preference_loss(r_a, r_b, target)
        if self.args.center_rewards_coefficient is not None:
            loss = loss + self.args.center_rewards_coefficient * torch.mean((r_a + r_b) ** 2)
        return (loss, outputs) if return_outputs else loss


class CostTrainer(KeepsColumn, RewardTrainer):
    """TRL's RewardTrainer as Safe RLHF's cost model: ``chosen`` is the safer (better) reply, and three columns
    carry ``better_sign``/``worse_sign`` (+1 unsafe, -1 safe, 0 unknown) and ``rank`` (1 where the pair is about
    harm, so the worse reply must cost more); the loss is ``constitutional.train.safe.cost_loss``."""

    columns = ("better_sign", "worse_sign", "rank")

    def __init__(self, *args, **kwargs):
        tokenizer = kwargs["processing_class"]
        kwargs.setdefault("data_collator", with_column(RewardCollator, *self.columns)(pad_token_id=tokenizer.pad_token_id))
        super().__init__(*args, **kwargs)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        better_sign, worse_sign, rank = (inputs.pop(c) for c in self.columns)
        _, outputs = super().compute_loss(model, inputs, return_outputs=True)
        c_better, c_worse = torch.chunk(outputs.logits.squeeze(-1), chunks=2)
        loss = cost_loss(c_better, c_worse, better_sign, worse_sign, rank)
        return (loss, outputs) if return_outputs else loss


_NOT_MODEL_INPUTS = {"completion_mask", "ref_chosen_logps", "ref_rejected_logps"}


class WeightedDPOTrainer(CompactHead, KeepsColumn, DPOTrainer):
    """TRL's DPOTrainer with a per-pair ``weight`` column (see the module doc)."""

    columns = ("weight",)

    def __init__(self, *args, **kwargs):
        tokenizer, targs = kwargs["processing_class"], kwargs["args"]
        if list(targs.loss_type) != ["sigmoid"] or targs.f_divergence_type != "reverse_kl" or targs.ld_alpha \
                or targs.use_weighting:
            raise ValueError("WeightedDPOTrainer implements the standard sigmoid DPO loss only")
        kwargs.setdefault("data_collator", with_column(DPOCollator, "weight")(pad_token_id=tokenizer.pad_token_id,
                                                                               max_length=targs.max_length))
        super().__init__(*args, **kwargs)

    def sequence_logps(self, model, inputs) -> torch.Tensor:
        """Summed completion log-probs of every row ([chosen..., rejected...]), one forward pass."""
        kwargs = {k: v for k, v in inputs.items() if k not in _NOT_MODEL_INPUTS}
        labels = inputs["input_ids"].masked_fill(inputs["completion_mask"] == 0, -100)
        out = model(**kwargs, labels=labels, use_cache=False, fused_lm_head=True)
        seq_len = inputs["completion_mask"].size(1) - 1
        return out.log_probs[:, -seq_len:].sum(dim=1)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        weight = inputs.pop("weight")
        chosen, rejected = self.sequence_logps(model, inputs).chunk(2, dim=0)
        if "ref_chosen_logps" in inputs:
            ref_chosen, ref_rejected = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
        else:
            ref_chosen, ref_rejected = self.compute_ref_log_probs(
                self.ref_model if self.ref_model is not None else model, inputs)
        loss = weighted_dpo_loss(chosen, rejected, ref_chosen, ref_rejected, weight, self.beta)
        mode = "train" if self.model.training else "eval"
        chosen_rewards = self.beta * (chosen - ref_chosen).detach()
        rejected_rewards = self.beta * (rejected - ref_rejected).detach()
        gather = self.accelerator.gather
        for name, value in (("rewards/chosen", chosen_rewards), ("rewards/rejected", rejected_rewards),
                            ("rewards/accuracies", (chosen_rewards > rejected_rewards).float()),
                            ("rewards/margins", chosen_rewards - rejected_rewards), ("weight", weight)):
            self._metrics[mode][name].append(gather(value).mean().item())
        return (loss, None) if return_outputs else loss
