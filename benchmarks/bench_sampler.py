"""What per-prompt seeding costs: the seeded sampler against transformers'
batch sampling, per decode step, beside the decode step itself, in one process.

``SeededSampler`` draws each row from its own generator (so a prompt's sample
does not depend on its batch). transformers draws the whole batch with one
``torch.multinomial`` from the global generator. Both apply the same
temperature and top-k-bounded nucleus (``TopKTopP``). Measured on the
embedded model's logits for a batch of helpful prompts:

    .venv/bin/python benchmarks/bench_sampler.py --n 32 --steps 200
"""

from __future__ import annotations

import argparse
import time

import torch

from constitutional.core.seeding import seed_for
from constitutional.models import load_generator
from constitutional.models.hf import SeededSampler, TopKTopP
from constitutional.prompts import load_prompts


def hf_batch_sample(scores: torch.Tensor, temperature: float, nucleus: TopKTopP) -> torch.Tensor:
    """transformers' sampling step: warp, softmax, one multinomial draw for the batch."""
    probs = nucleus(None, scores.float() / temperature).softmax(dim=-1)
    return torch.multinomial(probs, num_samples=1)


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


@torch.inference_mode()
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=32, help="prompts (one batch)")
    ap.add_argument("--steps", type=int, default=200, help="sampler calls timed")
    ap.add_argument("--top_p", type=float, default=0.95)
    args = ap.parse_args()
    gen = load_generator("smollm2-135m", batch_size=args.n)
    encoded = [gen.encode(list(p.messages)) for p in load_prompts("helpful", "train", args.n)]
    width = max(len(e) for e in encoded)
    ids = torch.full((len(encoded), width), gen.tokenizer.pad_token_id)
    mask = torch.zeros_like(ids)
    for i, e in enumerate(encoded):
        ids[i, width - len(e):], mask[i, width - len(e):] = torch.tensor(e), 1
    from transformers import DynamicCache

    kw = gen._cache_kw  # the cache argument's name (renamed in transformers 5)
    cache = DynamicCache(config=gen.model.config)
    scores = gen.model(input_ids=ids, attention_mask=mask, use_cache=True, **{kw: cache}).logits[:, -1]
    step_ids, step_mask = ids[:, -1:], torch.cat([mask, torch.ones(len(encoded), 1, dtype=mask.dtype)], 1)

    def decode_step():
        # one new token per row on the prompt's cache, then the cache is cut back: a step's cost each time
        gen.model(input_ids=step_ids, attention_mask=step_mask, use_cache=True, **{kw: cache})
        cache.crop(-1)

    nucleus = TopKTopP(args.top_p)
    seeded = SeededSampler(0.8, args.top_p, [seed_for(0, e) for e in encoded])
    t_step = timed(decode_step, 20)
    t_hf = timed(lambda: hf_batch_sample(scores, 0.8, nucleus), args.steps)
    t_seeded = timed(lambda: seeded(None, scores), args.steps)
    print(f"batch {len(encoded)}, vocab {scores.shape[-1]}, top_p {args.top_p}, threads {torch.get_num_threads()}")
    print("| per decode step | ms | vs transformers' sampling |\n|---|---|---|")
    print(f"| model forward (one token per row) | {t_step * 1e3:.1f} | |")
    print(f"| transformers' batch sampling | {t_hf * 1e3:.2f} | 1.00x |")
    print(f"| seeded sampler (per-row generators) | {t_seeded * 1e3:.2f} | {t_seeded / t_hf:.2f}x |")
    print(f"seeded sampler overhead over transformers': {(t_seeded - t_hf) / t_step * 100:.1f}% of a decode step")


if __name__ == "__main__":
    main()
