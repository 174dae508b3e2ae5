"""Judge scoring on the embedded model: P("(A)") vs P("(B)") after a
~450-token comparison prompt, A/B in one process.

  baseline : each (prompt + option) sequence scored in full, right-padded
             (full-vocabulary logits at every position)
  ours     : TransformersGenerator.option_probs (one prompt pass with
             logits_to_keep=1, options continue from its KV cache)

    .venv/bin/python benchmarks/bench_judge.py --n 16
"""

from __future__ import annotations

import argparse
import time

import torch

from constitutional.models import load_generator
from constitutional.models.hf import normalize_logprobs
from constitutional.prompts import load_prompts

OPTIONS = ["(A)", "(B)"]


def judge_prompts(n: int) -> list:
    filler = "The assistant gave a long, careful answer with several steps and some caveats. " * 12
    out = []
    for p in load_prompts("helpful", "train", n):
        text = (f"Consider this request: {p.prompt}\n\nResponse (A): {filler}\n\nResponse (B): {filler}\n\n"
                "Which response is more helpful and harmless? Answer (A) or (B).")
        out.append([{"role": "user", "content": text}, {"role": "assistant", "content": "The answer is "}])
    return out


@torch.inference_mode()
def naive(gen, convs, options, batch_size):
    opt_ids = [gen.tokenizer(o, add_special_tokens=False)["input_ids"] for o in options]
    seqs = [(ci, oi, gen.encode(c)) for ci, c in enumerate(convs) for oi in range(len(options))]
    logp = [[0.0] * len(options) for _ in convs]
    pad = gen.tokenizer.pad_token_id
    for i in range(0, len(seqs), batch_size):
        batch = seqs[i : i + batch_size]
        full = [p + opt_ids[oi] for _, oi, p in batch]
        width = max(len(s) for s in full)
        ids = torch.full((len(full), width), pad)
        mask = torch.zeros((len(full), width), dtype=torch.long)
        for row, s in enumerate(full):
            ids[row, : len(s)] = torch.tensor(s)
            mask[row, : len(s)] = 1
        lp = gen.model(input_ids=ids, attention_mask=mask).logits.float().log_softmax(-1)
        for row, (ci, oi, p) in enumerate(batch):
            toks = opt_ids[oi]
            logp[ci][oi] = sum(lp[row, len(p) - 1 + j, t].item() for j, t in enumerate(toks))
    return [normalize_logprobs(r) for r in logp]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    gen = load_generator("smollm2-135m", batch_size=args.batch)
    convs = judge_prompts(args.n)
    print(f"{args.n} judgments, prompt ~{len(gen.encode(convs[0]))} tokens, options {OPTIONS} "
          f"({[len(gen.tokenizer(o, add_special_tokens=False)['input_ids']) for o in OPTIONS]} tokens)")
    gen.option_probs(convs[:1], OPTIONS)  # warm-up
    t = time.perf_counter()
    base = naive(gen, convs, OPTIONS, args.batch)
    t_base = time.perf_counter() - t
    t = time.perf_counter()
    ours = gen.option_probs(convs, OPTIONS)
    t_ours = time.perf_counter() - t
    diff = max(abs(a - b) for ra, rb in zip(base, ours) for a, b in zip(ra, rb))
    print(f"{'variant':<9} {'seconds':>8} {'judgments/s':>12} {'speedup':>8}")
    print(f"{'baseline':<9} {t_base:8.1f} {args.n / t_base:12.2f} {1.0:7.2f}x")
    print(f"{'ours':<9} {t_ours:8.1f} {args.n / t_ours:12.2f} {t_base / t_ours:7.2f}x")
    print(f"max |P difference| = {diff:.2e}")


if __name__ == "__main__":
    main()
