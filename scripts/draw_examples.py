"""Draw random before/after examples from a run's evaluation answers.

    python scripts/draw_examples.py runs/demo --after rl --n 5 --seed 0
    python scripts/draw_examples.py runs/demo --after rl --refusals 20 --seed 1

Prints a markdown table: N harmful and N benign look-alike prompts drawn at
random (seeded) from the eval suites, with the base model's and the tuned
model's greedy answers and the refusal classifier's verdict on each.
``--refusals N`` instead draws N of the tuned model's answers to harmful
prompts that the classifier calls refusals, with its "offers an alternative"
verdict: the sample to read by hand before trusting that figure, and the
constitution principle whose ``concern`` and ``help`` share the most words
with the reply (``--constitution``, default cai-2022; "none" below 3 words).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from constitutional.constitution import load_constitution
from constitutional.refusal.classifier import default_classifier


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--before", default="base")
    ap.add_argument("--after", default="rl")
    ap.add_argument("--n", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chars", type=int, default=220)
    ap.add_argument("--refusals", type=int, default=0, help="draw this many refusals of --after instead")
    ap.add_argument("--constitution", default="cai-2022", help="whose principles the refusals may cite")
    a = ap.parse_args()
    rows = [json.loads(line) for line in (a.run / "eval" / "responses.jsonl").open(encoding="utf-8")]
    by = {(r["model"], r["suite"], r["prompt_id"]): r for r in rows}
    clf = default_classifier()
    rng = random.Random(a.seed)
    if a.refusals:
        return print_refusals(rows, a, clf, rng)
    print("| suite | category | prompt | before | after |\n|---|---|---|---|---|")
    for suite in ("harmful", "benign"):
        ids = sorted({r["prompt_id"] for r in rows if r["suite"] == suite and r["model"] == a.after})
        for pid in rng.sample(ids, a.n):
            b, t = by[(a.before, suite, pid)], by[(a.after, suite, pid)]
            prompt = b["messages"][-1]["content"]
            cb, ct = clf.classify_many([prompt, prompt], [b["response"], t["response"]])
            print(f"| {suite} | {b['category']} | {prompt.replace('|', '/')} | {cell(b['response'], cb, a.chars)} | "
                  f"{cell(t['response'], ct, a.chars)} |")


def cell(text: str, verdict: str, chars: int) -> str:
    text = " ".join(text.split())
    text = text if len(text) <= chars else text[:chars] + "..."
    return f"[{verdict}] " + text.replace("|", "\\|")


STOP = {"a", "an", "the", "to", "of", "or", "and", "it", "that", "this", "with", "for", "you", "your", "i", "can't",
        "help", "could", "because", "someone", "if", "need", "suggest", "talking", "recommend", "speaking", "would",
        "i'd", "not", "able", "be", "in", "on", "is", "are", "who", "them", "their", "they"}


def words(text: str) -> set[str]:
    return {w.strip(".,'\"!?;:()").lower() for w in text.split()} - STOP - {""}


def cited(reply: str, principles) -> str:
    """The principle whose concern and help share the most words with the reply (at least 3), else "none"."""
    best = max(principles, key=lambda p: len(words(reply) & words(f"{p.concern} {p.help}")), default=None)
    if best is None or len(words(reply) & words(f"{best.concern} {best.help}")) < 3:
        return "none"
    return best.id


def print_refusals(rows: list[dict], a, clf, rng: random.Random) -> None:
    mine = [r for r in rows if r["model"] == a.after and r["suite"] == "harmful"]
    prompts = [r["messages"][-1]["content"] for r in mine]
    refused = [(p, r) for p, r, c in zip(prompts, mine, clf.classify_many(prompts, [r["response"] for r in mine]))
               if c == "refuse"]
    alts = clf.offers_alternative_many([p for p, _ in refused], [r["response"] for _, r in refused])
    drawn = rng.sample(list(zip(refused, alts)), min(a.refusals, len(refused)))
    print(f"{len(refused)} refusals of {len(mine)} harmful prompts; {sum(alts)} offer an alternative (classifier)\n")
    principles = load_constitution(a.constitution).restricting
    print("| category | prompt | reply | alternative? | principle cited |\n|---|---|---|---|---|")
    for (p, r), alt in drawn:
        cites = cited(r["response"], principles)
        print(f"| {r['category']} | {p.replace('|', '/')} | {cell(r['response'], 'refuse', a.chars)} | {alt} | {cites} |")


if __name__ == "__main__":
    main()
