"""transformers backend: a local checkpoint (or the embedded model) on CPU or GPU.

Generation is batched with left padding; conversations are sorted by length
so a batch holds prompts of similar size (less padding, less wasted prefill).

Shared-prefix reuse: when every conversation of a batch starts with the same
tokens (a system prompt, the few-shot demonstrations of SL-CAI), the prefix
is run through the model once, its KV cache is kept, and each batch starts
from a copy of it; the rows are laid out as ``prefix + padding + suffix``
with the padding masked, and positions come from the mask. On SL-CAI
critique calls (~700-token prompts, ~450 shared) prefill is most of the cost
on a CPU (``benchmarks/bench_generate.py``). Decoding is our own loop
(``models/decode.py``): a row leaves the batch when it finishes.
Option scoring right-pads prompt+option sequences and sums the option
tokens' log-probabilities, so multi-token options such as "(A)" are exact.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from pathlib import Path

import torch

from constitutional.core.config import GENERATION_BATCH
from constitutional.core.errors import ConstitutionalError
from constitutional.core.seeding import seed_for
from constitutional.models.base import Conversation, SamplingParams, truncate_at_stop
from constitutional.models.decode import LastLogits, cache_keyword, decode, prefill

_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
           "float16": torch.float16, "fp16": torch.float16}


def bf16_is_fast() -> bool:
    """bf16 pays only with hardware support: a CUDA GPU that has it, or a CPU
    with AVX512_BF16/AMX (there it doubles generation throughput). Without
    them torch emulates bf16 matmuls: we measured 0.3 GFLOPS against 174 in
    fp32 on an AVX2-only EPYC, i.e. generation 3x *slower*."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_dtype(dtype: str) -> torch.dtype:
    """'auto' is bf16 where it is fast (see ``bf16_is_fast``), else fp32."""
    if dtype == "auto":
        return torch.bfloat16 if bf16_is_fast() else torch.float32
    if dtype not in _DTYPES:
        raise ConstitutionalError(f"unknown dtype '{dtype}'", field="dtype", hint=f"use auto or one of {sorted(_DTYPES)}")
    return _DTYPES[dtype]


def load_tokenizer(path: str | Path, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def encode_conversation(tokenizer, conv: Conversation) -> list[int]:
    """Token ids of a conversation rendered with the chat template, ready for
    the assistant's turn (or continuing a final assistant prefix)."""
    continue_final = conv[-1]["role"] == "assistant"
    out = tokenizer.apply_chat_template(
        list(conv), add_generation_prompt=not continue_final, continue_final_message=continue_final,
        tokenize=True, return_dict=False,
    )
    return list(out["input_ids"] if hasattr(out, "keys") else out)


class TransformersGenerator:
    def __init__(self, path: str | Path, *, name: str | None = None, dtype: str = "auto", batch_size: int = GENERATION_BATCH,
                 device: str | None = None, trust_remote_code: bool = False, min_shared_prefix: int = 16):
        from transformers import AutoModelForCausalLM

        path = Path(path)
        if not (path / "config.json").is_file():
            raise ConstitutionalError(
                "no model here (config.json is missing)", file=path,
                hint="pass a directory written by save_pretrained, e.g. hf:runs/demo/sft/model, or use smollm2-135m",
            )
        self.name = name or f"hf:{path}"
        self.path = path
        self.batch_size = batch_size
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = load_tokenizer(path, trust_remote_code)
        self.model = AutoModelForCausalLM.from_pretrained(
            str(path), dtype=resolve_dtype(dtype), trust_remote_code=trust_remote_code, use_safetensors=True
        ).to(self.device)
        self.model.eval()
        if self.model.generation_config.pad_token_id is None:
            self.model.generation_config.pad_token_id = self.tokenizer.pad_token_id
        #: batches sharing at least this many leading tokens reuse the prefix's KV cache (0 = never); 16 takes in
        #: a default system prompt (SmolLM2's is 24 tokens): 1.13x on bench_decode with the prefill slices
        self.min_shared_prefix = min_shared_prefix
        self._prefix: tuple[tuple[int, ...], object] | None = None  # (prefix ids, its KV cache)
        self._cache_kw = cache_keyword(self.model)
        eos = self.model.generation_config.eos_token_id
        eos = self.tokenizer.eos_token_id if eos is None else eos
        #: a row ends at any of these (none known: it runs to max_new_tokens)
        self._eos_ids = [e for e in (eos if isinstance(eos, list) else [eos]) if e is not None]

    # -- prompts ---------------------------------------------------------------------------------
    def encode(self, conv: Conversation) -> list[int]:
        return encode_conversation(self.tokenizer, conv)

    def _batches(self, items: list, size: int):
        for i in range(0, len(items), size):
            yield items[i : i + size]

    # -- generation ------------------------------------------------------------------------------
    @torch.inference_mode()
    def generate(self, conversations: Sequence[Conversation], params: SamplingParams) -> list[str]:
        from transformers import DynamicCache

        encoded = [self.encode(c) for c in conversations]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        out: list[str] = [""] * len(encoded)
        pad = self.tokenizer.pad_token_id
        for idx in self._batches(order, self.batch_size):
            rows = [encoded[i] for i in idx]
            shared = self._shared_len(rows)
            prefix = rows[0][:shared]
            width = max(len(r) for r in rows) - shared
            ids = torch.full((len(idx), shared + width), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), shared + width), dtype=torch.long)
            for row, r in enumerate(rows):  # prefix, then left padding: the new tokens line up on the right
                ids[row, :shared] = torch.tensor(prefix, dtype=torch.long)
                mask[row, :shared] = 1
                ids[row, shared + width - (len(r) - shared) :] = torch.tensor(r[shared:])
                mask[row, shared + width - (len(r) - shared) :] = 1
            cache = self._prefix_cache(prefix, len(idx)) if shared else DynamicCache(config=self.model.config)
            # sampling draws from each row's own generator, seeded by its prompt: a prompt's sample
            # does not depend on the batch it lands in (the loop then only takes the argmax)
            sampler = SeededSampler(params.temperature, params.top_p, [seed_for(params.seed, rows[r])
                                                                       for r in range(len(idx))])
            new = decode(self.model, ids.to(self.device), mask.to(self.device), cache, cached=shared,
                         max_new_tokens=params.max_new_tokens, eos_ids=self._eos_ids,
                         sampler=sampler if params.temperature > 0 else None,
                         repetition_penalty=params.repetition_penalty,
                         # stop early on stop strings; the text is still cut at them below
                         stop_strings=params.stop, tokenizer=self.tokenizer)
            texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
            for row, i in enumerate(idx):
                out[i] = truncate_at_stop(texts[row], params.stop).strip()
        return out

    def _shared_len(self, rows: list[list[int]]) -> int:
        """How many leading tokens this batch takes from a prefix cache (0: none).
        A batch whose prompts happen to share a few more tokens than the cached
        prefix (two questions both starting "How do I") reuses the cache rather
        than recomputing a slightly longer prefix."""
        n = shared_prefix_len(rows)
        if self.min_shared_prefix <= 0 or n < self.min_shared_prefix:
            return 0
        if self._prefix is not None:
            m = len(self._prefix[0])
            if n - 64 <= m <= n and tuple(rows[0][:m]) == self._prefix[0]:
                return m
        return n

    def _prefix_cache(self, prefix: list[int], batch: int):
        """A fresh KV cache of ``prefix`` repeated ``batch`` times. The last
        prefix's cache is kept: SL-CAI sends the same one batch after batch."""
        key = tuple(prefix)
        if self._prefix is None or self._prefix[0] != key:
            from transformers import DynamicCache

            cache = DynamicCache(config=self.model.config)
            ids = torch.tensor([prefix], device=self.device)
            self.model(input_ids=ids, use_cache=True, logits_to_keep=1, **{self._cache_kw: cache})
            self._prefix = (key, cache)
        cache = copy.deepcopy(self._prefix[1])
        cache.batch_repeat_interleave(batch)
        return cache

    # -- scoring ---------------------------------------------------------------------------------
    @torch.inference_mode()
    def option_probs(self, conversations: Sequence[Conversation], options: Sequence[str]) -> list[list[float]]:
        """Each prompt runs once (length-sorted batches, left-padded after any
        prefix the batch shares, logits of the last position only); the
        options then continue from a copy of its KV cache, so judging (A)
        against (B) costs one prompt pass, not two, and never holds
        full-vocabulary logits for every prompt position."""
        from transformers import DynamicCache

        opt_ids = [self.tokenizer(o, add_special_tokens=False)["input_ids"] for o in options]
        if any(len(o) == 0 for o in opt_ids):
            raise ValueError("options must be non-empty strings")
        n_opt, tail = len(options), max(len(o) for o in opt_ids) - 1
        pad = self.tokenizer.pad_token_id
        encoded = [self.encode(c) for c in conversations]
        out: list[list[float]] = [[] for _ in encoded]
        for idx in self._batches(sorted(range(len(encoded)), key=lambda i: len(encoded[i])), self.batch_size):
            rows = [encoded[i] for i in idx]
            shared = self._shared_len(rows)
            width = max(len(r) for r in rows) - shared
            ids = torch.full((len(rows), width), pad, dtype=torch.long)
            mask = torch.zeros((len(rows), shared + width), dtype=torch.long)
            mask[:, :shared] = 1
            for row, r in enumerate(rows):  # [shared prefix (cached) | left padding | the row's own tokens]
                ids[row, width - (len(r) - shared) :] = torch.tensor(r[shared:])
                mask[row, shared + width - (len(r) - shared) :] = 1
            pos = (mask.cumsum(-1) - 1).clamp(min=0)[:, shared:]
            cache = self._prefix_cache(rows[0][:shared], len(rows)) if shared else DynamicCache(config=self.model.config)
            first = prefill(LastLogits(self.model), ids.to(self.device), mask.to(self.device), pos.to(self.device),
                            cache, self._cache_kw).float().log_softmax(-1)
            # log P(first option token | prompt), shape (batch, n_opt)
            logp = first[:, [o[0] for o in opt_ids]].clone()
            if tail:  # multi-token options: every (prompt, option) row continues from the prompt's cache
                cache.batch_repeat_interleave(n_opt)
                cont = torch.full((len(rows) * n_opt, tail), pad, dtype=torch.long)
                for row in range(len(rows)):
                    for oi, o in enumerate(opt_ids):
                        cont[row * n_opt + oi, : len(o) - 1] = torch.tensor(o[:-1], dtype=torch.long)
                lens = torch.tensor([len(r) for r in rows]).repeat_interleave(n_opt)
                cpos = lens[:, None] + torch.arange(tail)[None, :]
                cmask = torch.cat([mask.repeat_interleave(n_opt, 0), torch.ones_like(cont)], dim=1)
                lp = self.model(input_ids=cont.to(self.device), attention_mask=cmask.to(self.device),
                                position_ids=cpos.to(self.device), use_cache=True,
                                **{self._cache_kw: cache}).logits.float().log_softmax(-1)
                # each option's later tokens, read in one gather (padding positions add 0)
                nxt = torch.zeros((n_opt, tail), dtype=torch.long)
                live = torch.zeros((n_opt, tail))
                for oi, o in enumerate(opt_ids):
                    nxt[oi, : len(o) - 1] = torch.tensor(o[1:], dtype=torch.long)
                    live[oi, : len(o) - 1] = 1
                got = lp.gather(-1, nxt.repeat(len(rows), 1).to(lp.device)[..., None])[..., 0]
                logp += (got * live.repeat(len(rows), 1).to(lp.device)).sum(-1).view(len(rows), n_opt)
            for row, i in enumerate(idx):
                out[i] = normalize_logprobs(logp[row].tolist())
        return out


def shared_prefix_len(rows: Sequence[Sequence[int]]) -> int:
    """Leading tokens common to all rows, leaving each row at least one token
    of its own (generate needs one uncached input token per row).
    ``[[1, 2, 3, 4], [1, 2, 3, 5, 6]] -> 3``; ``[[1, 2], [1, 2, 3]] -> 1``"""
    n = min(len(r) for r in rows) - 1
    first = rows[0]
    for r in rows[1:]:
        i = 0
        while i < n and r[i] == first[i]:
            i += 1
        n = i
    return max(n, 0)


class TopKTopP:
    """Nucleus sampling restricted to the ``k`` most likely tokens.

    transformers' TopPLogitsWarper sorts the whole vocabulary at every step;
    on a 49k vocabulary at batch 32 that sort was 19 % of generation time on
    2 CPU cores (torch profiler). ``topk`` then a sort of k values gives the
    same distribution whenever the nucleus lies inside the top k, which for
    k=100 and p<=0.95 is all but always; beyond it this is top-k sampling.
    """

    def __init__(self, top_p: float, k: int = 100):
        self.top_p, self.k = top_p, k

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        values, idx = scores.topk(min(self.k, scores.shape[-1]), dim=-1)  # sorted descending
        probs = values.softmax(dim=-1)
        # drop a token once the mass *before* it already reaches top_p (keeps at least one)
        drop = (probs.cumsum(dim=-1) - probs) >= self.top_p
        values = values.masked_fill(drop, -math.inf)
        return torch.full_like(scores, -math.inf).scatter_(-1, idx, values)


class SeededSampler:
    """Temperature, then the nucleus (``TopKTopP``; none at ``top_p=1``), then one
    draw per row by inverse CDF from that row's own ``torch.Generator``; returns
    logits where only the drawn token is finite, so greedy decoding keeps it.

    Each row draws once per step from its own generator, so its t-th token
    depends on its seed and its logits only, never on the other rows of the
    batch or on how many there are (``transformers`` samples a whole batch from
    one global generator)."""

    def __init__(self, temperature: float, top_p: float, seeds: Sequence[int]):
        self.temperature = temperature
        self.nucleus = TopKTopP(top_p) if top_p < 1.0 else None
        self.generators = [torch.Generator().manual_seed(s) for s in seeds]

    def keep(self, rows: Sequence[int]) -> None:
        """Only these rows go on decoding (the others finished): each keeps its own generator."""
        self.generators = [self.generators[i] for i in rows]

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        scores = scores.float() / self.temperature
        if self.nucleus is not None:
            scores = self.nucleus(input_ids, scores)
        cdf = scores.softmax(dim=-1).cumsum(dim=-1)
        u = 1 - torch.cat([torch.rand(1, generator=g) for g in self.generators]).to(cdf.device)  # in (0, 1]
        picks = (cdf < (u * cdf[:, -1])[:, None]).sum(dim=-1).clamp(max=scores.shape[-1] - 1)
        return torch.full_like(scores, -math.inf).scatter_(-1, picks[:, None], 0.0)


def normalize_logprobs(logps: Sequence[float]) -> list[float]:
    """Softmax over option log-probs. ``[log .2, log .6] -> [.25, .75]``."""
    finite = [x for x in logps if x != -math.inf]
    if not finite:
        return [1.0 / len(logps)] * len(logps)
    m = max(finite)
    ex = [math.exp(x - m) if x != -math.inf else 0.0 for x in logps]
    z = sum(ex)
    return [e / z for e in ex]
