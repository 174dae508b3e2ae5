"""The SFT loss head, A/B in one process, on the embedded model's head shape
(vocabulary 49,152 x hidden 576), forward and backward, for one micro-batch:
TRL 1.16's chunked-logprob function over every position (what its fused head
does on a CPU, where it has no Triton: prompt and padding positions included)
against the compact head of ``constitutional.train.lm_head`` (a projection of
the labeled positions, log-softmax, gather; metrics without gradient).
Defaults: the demo's micro-batch, 4 rows of about 140 positions with about
87 completion tokens each.

    .venv/bin/python benchmarks/bench_lm_head.py --positions 560 --labeled 350
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from trl.kernels.chunked_logprob import ChunkedLogProbFunction
from trl.trainer.utils import _CHUNKED_LOGPROB_CHUNK_SIZE

OUTPUTS = ("log_probs", "entropy", "is_top1")  # what TRL's SFTTrainer asks its head for


def timed(fn, reps: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--positions", type=int, default=560, help="positions in the micro-batch (rows x length)")
    ap.add_argument("--labeled", type=int, default=350, help="of them, positions with a label (completion tokens)")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    torch.manual_seed(0)
    vocab, hidden = 49152, 576
    weight = (torch.randn(vocab, hidden) * 0.02).requires_grad_()
    h = torch.randn(args.positions, hidden).requires_grad_()
    y = torch.randint(0, vocab, (args.positions,))
    mask = torch.zeros(args.positions, dtype=torch.bool)
    mask[-args.labeled:] = True

    def trl_every_position():
        logprobs, *_ = ChunkedLogProbFunction.apply(h, weight, None, y, 1.0, _CHUNKED_LOGPROB_CHUNK_SIZE, None, 1.0,
                                                    OUTPUTS)
        (-(logprobs * mask).sum() / mask.sum()).backward()

    def compact():
        logits = F.linear(h[mask], weight)
        log_p = torch.log_softmax(logits, -1)
        with torch.no_grad():
            -(log_p.exp() * log_p).sum(-1), logits.argmax(-1)
        (-log_p.gather(-1, y[mask].unsqueeze(-1)).mean()).backward()

    rows = [(f"TRL chunked, all {args.positions} positions", trl_every_position),
            (f"compact, {args.labeled} labeled positions", compact)]
    base = None
    for name, fn in rows:
        ms = timed(fn, args.reps)
        base = base or ms
        print(f"{name:<40} {ms:8.1f} ms  {base / ms:5.2f}x faster than the first row")


if __name__ == "__main__":
    main()
