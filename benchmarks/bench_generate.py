"""Generation throughput on SL-CAI-shaped work, A/B in one process.

Measures critique calls (few-shot demonstrations + a red-team prompt + a
response + a critique request) on the embedded model:
  baseline  : plain batched generation, transformers' own top-p sampler
  +topk     : our TopKTopP sampler (avoids a full-vocabulary sort per step)
  +prefix   : TopKTopP and shared-prefix KV reuse
and prints seconds, new tokens/s and the speedup over the baseline.

    .venv/bin/python benchmarks/bench_generate.py --n 32 --tokens 64
"""

from __future__ import annotations

import argparse
import time

import torch

from constitutional.models import SamplingParams, load_generator
from constitutional.models import hf as hf_backend
from constitutional.prompts import load_fewshot, load_prompts
from constitutional.stages.sl_cai import demo_turns


class HFTopP:
    """transformers' TopPLogitsWarper, wrapped to drop in for TopKTopP."""

    def __init__(self, top_p: float, k: int = 0):
        from transformers.generation.logits_process import TopPLogitsWarper

        self.warper = TopPLogitsWarper(top_p)

    def __call__(self, input_ids, scores):
        return self.warper(input_ids, scores)


def convs(n: int) -> list:
    demos = demo_turns(load_fewshot()[:2])
    out = []
    for p in load_prompts("redteam", "train", n):
        out.append(demos + list(p.messages) + [
            {"role": "assistant", "content": "Sure, here is an overview of what you asked for in general terms."},
            {"role": "user", "content": "Point out specific ways the assistant's last reply could cause harm."}])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=32, help="conversations (one batch)")
    ap.add_argument("--tokens", type=int, default=64, help="new tokens per conversation")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    gen = load_generator("smollm2-135m", batch_size=args.n)
    batch = convs(args.n)
    lens = [len(gen.encode(c)) for c in batch]
    print(f"model {gen.name} dtype {gen.model.dtype} threads {torch.get_num_threads()}; prompt tokens "
          f"min {min(lens)} max {max(lens)}; shared prefix {hf_backend.shared_prefix_len([gen.encode(c) for c in batch])}")
    params = SamplingParams(max_new_tokens=args.tokens, temperature=0.7, seed=0)
    variants = {"baseline": (HFTopP, 0), "+topk": (hf_backend.TopKTopP, 0), "+prefix": (hf_backend.TopKTopP, 32)}
    gen.generate(batch[:2], SamplingParams(max_new_tokens=4, temperature=0))  # warm-up
    results = {}
    for _rep in range(args.repeats):
        for name, (sampler, min_prefix) in variants.items():
            hf_backend.TopKTopP, saved = sampler, hf_backend.TopKTopP
            gen.min_shared_prefix, gen._prefix = min_prefix, None
            t = time.perf_counter()
            out = gen.generate(batch, params)
            dt = time.perf_counter() - t
            hf_backend.TopKTopP = saved
            ntok = sum(len(gen.tokenizer(o, add_special_tokens=False)["input_ids"]) for o in out)
            results.setdefault(name, []).append((dt, ntok))
    base = min(d for d, _ in results["baseline"])
    print(f"{'variant':<10} {'best s':>8} {'new tok/s':>10} {'speedup':>8}")
    for name, runs in results.items():
        dt, ntok = min(runs)
        print(f"{name:<10} {dt:8.1f} {ntok / dt:10.1f} {base / dt:8.2f}x")


if __name__ == "__main__":
    main()
