"""The transformers backend's decode loop: finished rows leave the batch.

``model.generate`` keeps every row of a batch until the longest one is done,
so a batch of 32 where half the answers stop at 30 tokens and half run to 96
spends about a third of its decode steps on rows that only emit padding
(``benchmarks/bench_decode.py`` measures it). This loop drops a row from the
input, the attention mask and the KV cache as soon as it emits an
end-of-sequence token or a stop string, so each step costs what the live rows
need. Sampling stays per row (``SeededSampler``), so a prompt's sample does
not depend on which rows share its batch or when they leave.

The prompts are read in slices of rows (``PREFILL_TOKENS`` tokens per
forward) and their caches stacked, here and in ``option_probs``: on 2 CPU
cores one forward over 128 rows of 120 tokens ran at 291 prompt tokens/s
and over 32 rows at 409, because the elementwise work on a 15,000-token
activation no longer fits in cache.

Everything else is what ``generate`` does: positions from the attention mask
(left padding, a shared-prefix cache in front), the repetition penalty over
the prompt and the tokens so far, greedy argmax over the processed scores.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence

import torch
from transformers.cache_utils import DynamicLayer
from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor
from transformers.generation.stopping_criteria import StopStringCriteria


class GrowingLayer(DynamicLayer):
    """A KV cache layer that appends into spare capacity instead of concatenating.

    transformers' ``DynamicLayer`` runs ``torch.cat`` on every layer's keys and
    values at every step, copying the whole cache each time (at batch 32, 15 %
    of a decode step on 2 CPU cores). Here the keys and values live in a buffer
    with room for ``GROW`` more tokens; a step writes one slice and returns a
    view, and the buffer is reallocated only when full."""

    GROW = 128

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        n, add = self.get_seq_length(), key_states.shape[-2]
        buf = getattr(self, "_kbuf", None)
        if buf is None or buf.shape[0] != key_states.shape[0] or buf.shape[-2] < n + add:
            self._move(None, n, key_states, value_states, n + add + self.GROW)
        self._kbuf[..., n:n + add, :].copy_(key_states)
        self._vbuf[..., n:n + add, :].copy_(value_states)
        self.keys, self.values = self._kbuf[..., :n + add, :], self._vbuf[..., :n + add, :]
        return self.keys, self.values

    def _move(self, rows, n: int, like_k, like_v, size: int) -> None:
        """New buffers of ``size`` tokens holding the first ``n`` cached tokens (of ``rows`` only, if given)."""
        keys, values = (self.keys, self.values) if rows is None else (self.keys[rows], self.values[rows])
        b = like_k.shape[0] if rows is None or n == 0 else len(rows)
        self._kbuf = like_k.new_empty((b, like_k.shape[1], size, like_k.shape[-1]))
        self._vbuf = like_v.new_empty((b, like_v.shape[1], size, like_v.shape[-1]))
        if n:
            self._kbuf[..., :n, :].copy_(keys)
            self._vbuf[..., :n, :].copy_(values)
        self.keys, self.values = self._kbuf[..., :n, :], self._vbuf[..., :n, :]

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        n = self.get_seq_length()
        if n > 0:
            self._move(indices, n, self.keys, self.values, n + self.GROW)

    def stack(self, parts: Sequence[DynamicLayer]) -> None:
        """Hold the rows of ``parts`` (layers of the same length), one after another."""
        k, v = parts[0].keys, parts[0].values
        if not self.is_initialized:
            self.lazy_initialization(k, v)
        n, b = k.shape[-2], sum(p.keys.shape[0] for p in parts)
        self._kbuf = k.new_empty((b, k.shape[1], n + self.GROW, k.shape[-1]))
        self._vbuf = v.new_empty((b, v.shape[1], n + self.GROW, v.shape[-1]))
        row = 0
        for p in parts:
            m = p.keys.shape[0]
            self._kbuf[row:row + m, :, :n].copy_(p.keys)
            self._vbuf[row:row + m, :, :n].copy_(p.values)
            row += m
        self.keys, self.values = self._kbuf[..., :n, :], self._vbuf[..., :n, :]


def grow_in_place(cache) -> None:
    """Switch each full-attention layer of a ``DynamicCache`` to ``GrowingLayer``."""
    for layer in cache.layers:
        if type(layer) is DynamicLayer:
            layer.__class__ = GrowingLayer


class LastLogits:
    """Each row's logits at its last position.

    On a CPU, where the output head is a plain linear map (no bias, no logit
    scaling or softcapping, a ``model.model`` backbone: the Llama family), the
    head runs in vocabulary chunks of ``CHUNK`` rows of its weight. On 2 cores
    one [32 x 576] x [576 x 49,152] product took 53.5 ms whole and 34.9 ms in
    1,024-column chunks (256 rows: 234 against 139 ms). Any other model, and
    any GPU, goes through the model's own forward."""

    CHUNK = 1024
    SCALINGS = ("final_logit_softcapping", "logit_scale", "logits_scaling", "output_multiplier", "lm_head_multiplier")

    def __init__(self, model):
        head = model.get_output_embeddings()
        text = model.config.get_text_config()
        self.model = model
        plain = type(head) is torch.nn.Linear and head.bias is None and hasattr(model, "model")
        scaled = any(getattr(text, k, None) is not None for k in self.SCALINGS)
        self.chunked = plain and not scaled and head.weight.device.type == "cpu"
        self.weight = head.weight if self.chunked else None

    def __call__(self, **inputs) -> torch.Tensor:
        if not self.chunked:
            return self.model(**inputs, logits_to_keep=1).logits[:, -1]
        h = self.model.model(**inputs).last_hidden_state[:, -1]
        w = self.weight
        return torch.cat([h @ w[s:s + self.CHUNK].T for s in range(0, w.shape[0], self.CHUNK)], dim=-1)


#: prompt tokens (rows x uncached width) per prefill forward: 2-4k keep a small model's activations in cache
PREFILL_TOKENS = 2048


def prefill(last: LastLogits, ids: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor, cache,
            cache_kw: str) -> torch.Tensor:
    """Each row's logits at its last position after reading ``ids`` (the tokens ``cache`` does not hold yet;
    ``mask`` covers the cached ones too, ``pos`` is the positions of ``ids``) into ``cache``.

    Rows go through the model ``PREFILL_TOKENS // width`` at a time, each slice
    with its own copy of the rows' cached prefix, and the slices' caches are
    stacked into ``cache``. A cache with layers of another kind (sliding
    windows) is filled in one forward."""
    grow_in_place(cache)
    step = max(1, PREFILL_TOKENS // max(ids.shape[1], 1))
    if step >= ids.shape[0] or not cache.layers or any(type(layer) is not GrowingLayer for layer in cache.layers):
        return last(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, **{cache_kw: cache})
    logits, parts = [], []
    for start in range(0, ids.shape[0], step):
        rows = torch.arange(start, min(start + step, ids.shape[0]), device=ids.device)
        part = copy.copy(cache)
        part.layers = [copy.copy(layer) for layer in cache.layers]
        for layer in part.layers:  # the prefix of these rows only (new buffers; nothing cached: a no-op)
            layer.batch_select_indices(rows)
        logits.append(last(input_ids=ids[rows], attention_mask=mask[rows], position_ids=pos[rows], use_cache=True,
                           **{cache_kw: part}))
        parts.append(part)
    for i, layer in enumerate(cache.layers):
        layer.stack([p.layers[i] for p in parts])
    return torch.cat(logits)


def cache_keyword(model) -> str:
    """The forward argument that takes a KV cache: ``cache`` since transformers 5.x, ``past_key_values`` before."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


@torch.inference_mode()
def decode(model, ids: torch.Tensor, mask: torch.Tensor, cache, *, cached: int, max_new_tokens: int,
           eos_ids: Sequence[int], sampler=None, repetition_penalty: float = 1.0,
           stop_strings: Sequence[str] = (), tokenizer=None) -> list[list[int]]:
    """New token ids per row of ``ids`` (left-padded after the ``cached`` tokens ``cache`` already holds).

    A row ends after its first end-of-sequence token (kept in its output, as
    ``generate`` keeps it) or stop string, or after ``max_new_tokens``.
    ``sampler`` maps (ids, scores) to scores whose argmax is the draw and has
    ``keep(rows)``; without it decoding is greedy."""
    device, cache_kw = ids.device, cache_keyword(model)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    last = LastLogits(model)
    logits = prefill(last, ids[:, cached:], mask, pos[:, cached:], cache, cache_kw)
    penalty = RepetitionPenaltyLogitsProcessor(repetition_penalty) if repetition_penalty != 1.0 else None
    stops = StopStringCriteria(tokenizer, list(stop_strings)) if stop_strings else None
    eos = torch.tensor(list(eos_ids), device=device)
    live = torch.arange(ids.shape[0], device=device)  # the original row of each row still decoding
    out: list[list[int]] = [[] for _ in range(ids.shape[0])]
    seq = ids
    for step in range(max_new_tokens):
        scores = logits.float()
        if penalty is not None:
            scores = penalty(seq, scores)
        if sampler is not None:
            scores = sampler(seq, scores)
        nxt = scores.argmax(-1)
        for row, tok in zip(live.tolist(), nxt.tolist()):
            out[row].append(tok)
        if step == max_new_tokens - 1:
            break
        seq = torch.cat([seq, nxt[:, None]], dim=1)
        mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
        done = torch.isin(nxt, eos)
        if stops is not None:
            done |= stops(seq, scores)
        if done.any():
            keep = (~done).nonzero().squeeze(1)
            if keep.numel() == 0:
                break
            cache.batch_select_indices(keep)
            seq, mask, nxt, live = seq[keep], mask[keep], nxt[keep], live[keep]
            if sampler is not None:
                sampler.keep(keep.tolist())
        logits = last(input_ids=nxt[:, None], attention_mask=mask, position_ids=mask.sum(-1, keepdim=True) - 1,
                      use_cache=True, **{cache_kw: cache})
    return out
