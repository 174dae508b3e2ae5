"""Decode throughput of the transformers backend, A/B in one process.

The same prompts (helpful, borderline and look-alike requests: answers of
mixed lengths, the shape of the distill and eval stages) are answered by
  generate@32   : transformers' ``model.generate`` at batch 32 (every row stays until the longest is done),
  ours@32       : our decode loop at batch 32 (finished rows leave, the KV cache grows in place),
  ours@B/whole  : our decode loop at the run's default batch size, every prompt read in one forward and a
                  shared prefix reused from 32 tokens (the loop before its prefill was sliced),
  ours@B        : our decode loop at the run's default batch size, as it runs,
each with the same per-row seeded sampler. Prints useful new tokens/s (tokens
of the answers, up to their end) and the ratio to the first row, and checks
that the greedy answers are the same text on every path.

    .venv/bin/python benchmarks/bench_decode.py --n 128 --tokens 96
    .venv/bin/python benchmarks/bench_decode.py --sampling greedy --paths ours@128/whole ours@128
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import constitutional.models.decode as decode
from constitutional.core.config import RunConfig
from constitutional.core.seeding import seed_for
from constitutional.models import SamplingParams, load_generator
from constitutional.models.hf import SeededSampler
from constitutional.prompts import load_prompts


def prompts(n: int) -> list[list[dict]]:
    convs = [list(p.messages) for s in ("helpful", "borderline", "lookalike_train") for p in load_prompts(s, "train")]
    return convs[:n]


def hf_generate(gen, convs, params: SamplingParams, batch: int) -> list[str]:
    """``model.generate`` on length-sorted, left-padded batches: the backend before its own loop."""
    enc = [gen.encode(c) for c in convs]
    order = sorted(range(len(enc)), key=lambda i: len(enc[i]))
    out = [""] * len(enc)
    pad = gen.tokenizer.pad_token_id
    for start in range(0, len(order), batch):
        idx = order[start:start + batch]
        rows = [enc[i] for i in idx]
        width = max(map(len, rows))
        ids = torch.full((len(rows), width), pad)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, x in enumerate(rows):
            ids[r, width - len(x):] = torch.tensor(x)
            mask[r, width - len(x):] = 1
        sampler = SeededSampler(params.temperature, params.top_p, [seed_for(params.seed, x) for x in rows])
        with torch.inference_mode():
            new = gen.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=params.max_new_tokens,
                                     do_sample=False, temperature=None, top_p=None, top_k=None,
                                     logits_processor=[sampler] if params.temperature > 0 else None,
                                     repetition_penalty=params.repetition_penalty, pad_token_id=pad)
        texts = gen.tokenizer.batch_decode(new[:, width:], skip_special_tokens=True)
        for r, i in enumerate(idx):
            out[i] = texts[r].strip()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--tokens", type=int, default=96)
    ap.add_argument("--out", default=None, help="also write the rows as JSON here")
    big = RunConfig().batch_size
    paths = [("generate@32", 32, "hf"), ("ours@32", 32, "ours"), (f"ours@{big}/whole", big, "whole"),
             (f"ours@{big}", big, "ours")]
    ap.add_argument("--paths", nargs="+", default=[p[0] for p in paths], help="which paths (the first is the base)")
    ap.add_argument("--sampling", nargs="+", default=["greedy", "sampled"])
    args = ap.parse_args()
    convs = prompts(args.n)
    rows = []
    for label, params in [("greedy", SamplingParams(max_new_tokens=args.tokens, temperature=0.0)),
                          ("sampled", SamplingParams(max_new_tokens=args.tokens, temperature=0.8, top_p=0.95,
                                                     repetition_penalty=1.1))]:
        if label not in args.sampling:
            continue
        texts = {}
        for name, batch, run in [p for p in paths if p[0] in args.paths]:
            gen = load_generator(args.model, dtype=args.dtype, batch_size=batch)
            chunk, shared = decode.PREFILL_TOKENS, gen.min_shared_prefix
            if run == "whole":
                decode.PREFILL_TOKENS, gen.min_shared_prefix = 10**9, 32
            t0 = time.perf_counter()
            out = hf_generate(gen, convs, params, batch) if run == "hf" else gen.generate(convs, params)
            seconds = time.perf_counter() - t0
            decode.PREFILL_TOKENS, gen.min_shared_prefix = chunk, shared
            tokens = sum(len(gen.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in out)
            texts[name] = out
            rows.append({"sampling": label, "path": name, "seconds": round(seconds, 1),
                         "useful tok/s": round(tokens / seconds, 1)})
            base = next(r for r in rows if r["sampling"] == label)
            rows[-1]["ratio"] = round(rows[-1]["useful tok/s"] / base["useful tok/s"], 2)
            print(json.dumps(rows[-1]), flush=True)
        first = next(iter(texts))
        same = [sum(a == b for a, b in zip(texts[first], t)) for t in texts.values()]
        print(f"{label}: answers equal to {first}'s: {same} of {len(convs)}", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
