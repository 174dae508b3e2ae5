"""AI-feedback labeling throughput (labels/s) on the embedded model, A/B in one
process, on real preference pairs (the packaged judge pairs, both orders).

  verdict  : the usual LLM-as-judge loop: ask for "(A) or (B), then a short
             reason", generate up to --tokens tokens greedily, parse the first
             letter. Gives a hard label, no probability.
  short    : the cheapest generate-then-parse: the same answer prefix as ours
             ("The answer is: ("), generate 2 tokens, parse the letter.
  ours     : judge.score_pairs: one forward pass per order reads P(A) and P(B)
             from the next-token distribution; a soft label.

Each label covers one pair in both orders. Agreement columns compare the
methods' winners with the packaged ground truth.

    .venv/bin/python benchmarks/bench_feedback.py --n 32 --tokens 64
"""

from __future__ import annotations

import argparse
import re
import time

from constitutional.feedback.judge import ANSWER_PREFIX, JudgeSettings, Pair, judge_conversation, score_pairs
from constitutional.models import SamplingParams, load_generator
from constitutional.prompts import load_preferences

QUESTION = "Which of these assistant replies is better: more helpful, honest and harmless?"


def parse(text: str) -> float:
    m = re.search(r"\(?\b([AB])\b", text)
    return 0.5 if not m else (1.0 if m.group(1) == "A" else 0.0)


def generate_labels(gen, pairs, tokens: int, verdict: bool) -> list[float]:
    convs = []
    for p in pairs:
        for swapped in (False, True):
            conv = judge_conversation(p, QUESTION, swapped, JudgeSettings())
            if verdict:  # free-form: the judge writes the whole answer
                conv = conv[:-1]
                conv[-1] = {"role": "user", "content": conv[-1]["content"] +
                            "\n\nAnswer with (A) or (B) first, then give a one-sentence reason."}
            convs.append(conv)
    texts = gen.generate(convs, SamplingParams(max_new_tokens=tokens, temperature=0.0))
    if not verdict:
        texts = [ANSWER_PREFIX + t for t in texts]
    out = []
    for i in range(0, len(texts), 2):
        first, second = parse(texts[i]), parse(texts[i + 1])
        out.append((first + (1 - second)) / 2)  # P(a wins), averaged over the two orders
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=32, help="pairs (each judged in both orders)")
    ap.add_argument("--tokens", type=int, default=64, help="max new tokens of the verdict baseline")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--model", default="smollm2-135m", help="model spec (a random model: benchmarks/random_model.py)")
    ap.add_argument("--dtype", default="float32")
    args = ap.parse_args()
    gen = load_generator(args.model, dtype=args.dtype, batch_size=args.batch_size)
    prefs = load_preferences("judge_pairs", limit=args.n)
    pairs = [Pair(p.id, p.messages, p.chosen, p.rejected) for p in prefs]
    gen.generate([[{"role": "user", "content": "warm up"}]], SamplingParams(max_new_tokens=2, temperature=0.0))
    rows = []
    for name, run in (
        ("verdict (generate + parse)", lambda: generate_labels(gen, pairs, args.tokens, verdict=True)),
        ("short (generate 2 + parse)", lambda: generate_labels(gen, pairs, 2, verdict=False)),
        ("ours (one pass, option_probs)",
         lambda: [r["p_a"] for r in score_pairs(gen, pairs, [[QUESTION]] * len(pairs), JudgeSettings())]),
    ):
        t0 = time.perf_counter()
        labels = run()
        dt = time.perf_counter() - t0
        acc = sum(0.5 if x == 0.5 else float(x > 0.5) for x in labels) / len(labels)
        rows.append((name, dt, len(labels) / dt, acc))
    base = rows[0][2]
    print(f"\n{args.model} on {gen.device}, {args.dtype}: {args.n} pairs x 2 orders, batch {args.batch_size}, "
          f"verdict max {args.tokens} tokens\n")
    print("| method | seconds | labels/s | vs verdict | vs short | accuracy |")
    print("|---|---|---|---|---|---|")
    for name, dt, rate, acc in rows:
        print(f"| {name} | {dt:.1f} | {rate:.2f} | {rate / base:.1f}x | {rate / rows[1][2]:.1f}x | {acc:.3f} |")


if __name__ == "__main__":
    main()
