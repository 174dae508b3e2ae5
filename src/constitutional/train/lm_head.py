"""The training LM head where TRL has no Triton: score only the labeled positions.

TRL 1.16's trainers get per-token log-probabilities from a fused, chunked LM
head (``trl.trainer.utils.add_fused_lm_head``, called with
``fused_lm_head=True``). On a device with Triton it projects only the
positions whose label is not -100. Elsewhere (every CPU) it projects every
position, prompt and padding included, folds each ``[tokens, 32768]`` tile of
logits with a dozen torch passes (running max, exponentials, the entropy, the
top-1 test), and the backward recomputes all of it. Profiled on the demo's SFT
step (2-core AVX2, fp32, 8 examples): that head took 42 % of the step, where
its matrix products need about 7 %.

``compact_lm_head(model)`` replaces the fused path of a model TRL patched, on
such a device, with one projection of the labeled positions, a log-softmax
and a gather. It returns the same fields (``log_probs`` with their gradient;
the entropy, top-1 test, mean logit and ``log(sum p^2)`` without one, which
TRL's trainers only log) with the same zeros on ignored positions, so TRL's
losses and metrics read it unchanged.
The full ``[labeled tokens, vocabulary]`` logits are built in fp32, which is
what a CPU batch of a few hundred completion tokens affords.

Not replaced (TRL's path stays): devices with Triton, a temperature other
than 1 (TRL's RL trainers), and heads that scale or soft-cap their logits.
"""

from __future__ import annotations

import functools
import types

import torch

# config fields that make TRL's head scale or cap the logits; the compact head does neither
_SCALED = ("final_logit_softcapping", "logit_scale", "output_multiplier", "lm_head_multiplier", "logits_scaling")


def needs_compact_head(model) -> bool:
    """True where TRL's fused head scores every position: no Triton for the model's device, and a plain head."""
    from trl.kernels.chunked_logprob import _use_triton

    config = model.config.get_text_config()
    plain = all(getattr(config, name, None) is None for name in _SCALED)
    return plain and not getattr(config, "output_router_logits", False) and not _use_triton(model.device)


def compact_lm_head(model) -> bool:
    """Give ``model`` (already patched by TRL's ``add_fused_lm_head``, temperature 1) the compact fused path.
    Returns whether it did (see ``needs_compact_head``)."""
    from trl.trainer.utils import FusedCausalLMOutput

    if not needs_compact_head(model):
        return False
    trl_forward = model.forward

    @functools.wraps(type(model).forward)  # generate validates its kwargs against this signature
    def forward(self, *args, fused_lm_head=False, labels=None, shift_labels=None, num_items_in_batch=None, **kwargs):
        if not fused_lm_head:
            return trl_forward(*args, labels=labels, shift_labels=shift_labels, num_items_in_batch=num_items_in_batch,
                               **kwargs)
        kwargs["use_cache"] = False
        hidden = self.base_model(*args, **kwargs).last_hidden_state  # looked up per call: PEFT and FSDP swap it
        if shift_labels is None:
            hidden, labels = hidden[:, :-1], labels[:, 1:]
        else:
            labels = shift_labels
        head = self.get_output_embeddings()
        labels = labels.to(head.weight.device)
        mask = labels != -100
        target = labels[mask]
        logits = head(hidden.to(head.weight.device)[mask]).float()
        log_p = torch.log_softmax(logits, dim=-1)
        picked = log_p.gather(-1, target.unsqueeze(-1)).squeeze(-1)
        with torch.no_grad():  # the fields TRL's trainers log
            extra = {"entropy": -(log_p.exp() * log_p).sum(-1), "is_top1": logits.argmax(-1) == target,
                     "mean_logits": logits.mean(-1), "log_sum_sq_probs": torch.logsumexp(2 * log_p, dim=-1)}

        def per_position(x):  # zeros on ignored positions; masked_scatter keeps an all-ignored batch in the graph
            return x.new_zeros(mask.shape).masked_scatter(mask, x)

        log_probs = per_position(picked)
        n = mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
        return FusedCausalLMOutput(loss=-log_probs.sum() / n, log_probs=log_probs, label_mask=mask,
                                   **{k: per_position(v) for k, v in extra.items()})

    forward.compact_lm_head = True  # functools.wraps copied the name: this marks the swap (has_compact_head)
    model.forward = types.MethodType(forward, model)
    return True


def has_compact_head(model) -> bool:
    return getattr(getattr(model.forward, "__func__", None), "compact_lm_head", False)
