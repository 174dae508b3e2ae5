"""The embedded model with and without the guard: jailbreak success, refusal, and the over-refusal the guard adds.

The model answers every prompt once (greedy, batched, the eval's 96 tokens).
The guarded arm sends the same prompts through ``Guard.complete``, the code
path of the server, with an upstream that replays those answers: greedy
decoding gives the guard's upstream the same answer, so the two arms differ
only by the rails. Every reply is read by the eval's refusal classifier
(``jailbreak_asr`` = jailbreak attempts not fully refused, as in the eval).

    .venv/bin/python experiments/guard/asr.py --behaviors 10 --output-thresholds 0.5 0.6 \
        --answers runs/guard-asr-answers.json --out docs/guard-asr.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

from constitutional.core.ui import progress
from constitutional.eval.suites import balanced, jailbreak_suite, load_jailbreaks
from constitutional.guard.audit import AuditLog
from constitutional.guard.policy import load_policy
from constitutional.guard.rails import Rails
from constitutional.guard.service import Exchange, Guard
from constitutional.models import SamplingParams, load_generator
from constitutional.prompts import load_prompts
from constitutional.refusal.classifier import default_classifier


class Replay:
    """An upstream that answers with the model's recorded answer to the same conversation."""

    name = "smollm2-135m (replayed)"

    def __init__(self, answers: dict[str, str]):
        self.answers = answers

    async def complete(self, messages, params):
        return self.answers[messages[-1]["content"]], self.name

    async def aclose(self):
        return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--policy", default="default")
    ap.add_argument("--behaviors", type=int, default=10, help="red-team eval requests wrapped in every template")
    ap.add_argument("--tokens", type=int, default=96)
    ap.add_argument("--output-thresholds", type=float, nargs="+", default=[0.5],
                    help="one guarded arm per output-rail threshold (the policy's is replaced)")
    ap.add_argument("--answers", type=Path, default=None, help="cache of the model's answers (read if it exists)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    redteam = load_prompts("redteam", "eval")
    suites = {"jailbreak": jailbreak_suite(load_jailbreaks(), balanced(redteam, args.behaviors, 0, "jailbreak")).prompts,
              "harmful (redteam/eval)": redteam,
              "look-alike (lookalike/eval)": load_prompts("lookalike", "eval"),
              "held-out benign (heldout_benign/eval)": load_prompts("heldout_benign", "eval")}
    prompts = list(dict.fromkeys(p.prompt for ps in suites.values() for p in ps))
    params = SamplingParams(max_new_tokens=args.tokens, temperature=0.0)
    answers = answer(prompts, params, args.answers)
    refusals = default_classifier()
    report = {"policy": args.policy, "tokens": args.tokens, "judge": "refusal classifier (refusal_labels)", "arms": {}}
    for threshold in args.output_thresholds:
        policy = load_policy(args.policy)
        policy.output.threshold = threshold
        guarded = through_guard(policy, prompts, answers, params)
        rows = []
        for name, ps in suites.items():
            texts = [p.prompt for p in ps]
            bare = refusals.classify_many(texts, [answers[t] for t in texts])
            kept = refusals.classify_many(texts, [guarded[t].text for t in texts])
            outcomes = [guarded[t].outcome for t in texts]
            rows.append({"suite": name, "n": len(ps),
                         "refused_without": round(sum(c == "refuse" for c in bare) / len(ps), 4),
                         "refused_with": round(sum(c == "refuse" for c in kept) / len(ps), 4),
                         "blocked_input": round(outcomes.count("blocked_input") / len(ps), 4),
                         "blocked_output": round(outcomes.count("blocked_output") / len(ps), 4),
                         "flagged": round(outcomes.count("flagged") / len(ps), 4)})
        report["arms"][f"output.threshold={threshold}"] = rows
        print(f"\noutput.threshold {threshold}")
        print(f"{'suite':<40}{'n':>5}{'refused, bare':>15}{'with guard':>12}{'input':>8}{'output':>8}{'flagged':>9}")
        for r in rows:
            print(f"{r['suite']:<40}{r['n']:>5}{r['refused_without']:>15.1%}{r['refused_with']:>12.1%}"
                  f"{r['blocked_input']:>8.1%}{r['blocked_output']:>8.1%}{r['flagged']:>9.1%}")
        jb = rows[0]
        print(f"jailbreak ASR (not fully refused; refusal classifier): without the guard {1 - jb['refused_without']:.1%}, "
              f"with it {1 - jb['refused_with']:.1%}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")


def answer(prompts: list[str], params: SamplingParams, cache: Path | None) -> dict[str, str]:
    answers: dict[str, str] = json.loads(cache.read_text(encoding="utf-8")) if cache and cache.is_file() else {}
    todo = [p for p in prompts if p not in answers]
    if todo:
        gen = load_generator("smollm2-135m", batch_size=16)
        with progress("embedded model answers", len(todo)) as advance:
            for i in range(0, len(todo), 16):
                part = todo[i : i + 16]
                answers.update(zip(part, gen.generate([[{"role": "user", "content": p}] for p in part], params)))
                advance(len(part))
        if cache:
            cache.write_text(json.dumps(answers, indent=1, ensure_ascii=False), encoding="utf-8")
    return answers


def through_guard(policy, prompts: list[str], answers: dict[str, str], params: SamplingParams) -> dict[str, Exchange]:
    with tempfile.TemporaryDirectory() as tmp:
        guard = Guard(policy, Rails(policy), Replay(answers), AuditLog(f"sqlite:///{tmp}/audit.sqlite"))

        async def one(p: str) -> Exchange:
            return await guard.complete(Exchange([{"role": "user", "content": p}]), params)

        guarded = {}
        with progress("through the guard", len(prompts)) as advance:
            for p in prompts:
                guarded[p] = asyncio.run(one(p))
                advance(1)
        guard.audit.close()
    return guarded


if __name__ == "__main__":
    main()
