"""Draw random before/after examples from a run's evaluation answers.

    python scripts/draw_examples.py runs/demo --after rl --n 5 --seed 0

Prints a markdown table: N harmful and N benign look-alike prompts drawn at
random (seeded) from the eval suites, with the base model's and the tuned
model's greedy answers and the refusal classifier's verdict on each.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from constitutional.eval.refusal_classifier import default_classifier


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--before", default="base")
    ap.add_argument("--after", default="rl")
    ap.add_argument("--n", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chars", type=int, default=220)
    a = ap.parse_args()
    rows = [json.loads(line) for line in (a.run / "eval" / "responses.jsonl").open(encoding="utf-8")]
    by = {(r["model"], r["suite"], r["prompt_id"]): r for r in rows}
    clf = default_classifier()
    rng = random.Random(a.seed)
    print("| suite | category | prompt | before | after |\n|---|---|---|---|---|")
    for suite in ("harmful", "benign"):
        ids = sorted({r["prompt_id"] for r in rows if r["suite"] == suite and r["model"] == a.after})
        for pid in rng.sample(ids, a.n):
            b, t = by[(a.before, suite, pid)], by[(a.after, suite, pid)]
            prompt = b["messages"][-1]["content"]
            cb, ct = clf.classify_many([prompt, prompt], [b["response"], t["response"]])

            def cell(text: str, verdict: str) -> str:
                text = " ".join(text.split())
                text = text if len(text) <= a.chars else text[: a.chars] + "..."
                return f"[{verdict}] " + text.replace("|", "\\|")

            print(f"| {suite} | {b['category']} | {prompt.replace('|', '/')} | {cell(b['response'], cb)} | "
                  f"{cell(t['response'], ct)} |")


if __name__ == "__main__":
    main()
