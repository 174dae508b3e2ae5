"""The SFT loss head, A/B in one process: TRL 1.16's chunked-logprob function
(what its SFTTrainer always runs) against a plain ``F.cross_entropy`` over the
full logits, forward and backward, on the embedded model's head shape
(vocabulary 49,152 x hidden 576) and one batch's completion tokens.

    .venv/bin/python benchmarks/bench_lm_head.py --tokens 320
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from trl.kernels.chunked_logprob import ChunkedLogProbFunction


def timed(fn, reps: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=320, help="completion tokens in the batch")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    torch.manual_seed(0)
    vocab, hidden = 49152, 576
    weight = (torch.randn(vocab, hidden) * 0.02).requires_grad_()
    h = torch.randn(args.tokens, hidden).requires_grad_()
    y = torch.randint(0, vocab, (args.tokens,))

    def plain():
        F.cross_entropy(F.linear(h, weight), y).backward()

    def trl(outputs):
        def run():
            logprobs, *_ = ChunkedLogProbFunction.apply(h, weight, None, y, 1.0, 4096, None, 1.0, outputs)
            (-logprobs.mean()).backward()
        return run

    rows = [("plain cross_entropy", plain), ("TRL chunked (log_probs, entropy, is_top1)",
                                             trl(("log_probs", "entropy", "is_top1"))),
            ("TRL chunked (log_probs only)", trl(("log_probs",)))]
    base = None
    for name, fn in rows:
        ms = timed(fn, args.reps)
        base = base or ms
        print(f"{name:<44} {ms:8.1f} ms  {ms / base:5.2f}x the plain head's time")


if __name__ == "__main__":
    main()
