"""This machine's rooflines, measured: matmul FLOP/s per dtype (the compute
bound of batched decode and of training) and memory bandwidth (the bound of
batch-1 decode), and what they mean for a model of N parameters.

    .venv/bin/python benchmarks/roofline.py --params 134515008
"""

from __future__ import annotations

import argparse
import time

import torch


def matmul_flops(dtype: torch.dtype = torch.float32, size: int = 2048, seconds: float = 2.0) -> float:
    """Best sustained FLOP/s of a square matmul (the shape of a transformer's linear layers at large batch)."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    a = torch.randn(size, size, dtype=dtype, device=device)
    b = torch.randn(size, size, dtype=dtype, device=device)
    a @ b  # warm up
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(4):
            a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        best = max(best, 4 * 2 * size**3 / (time.perf_counter() - t0))
    return best


def bandwidth(mb: int = 512, seconds: float = 2.0) -> float:
    """Best bytes/s of a tensor copy (read + write)."""
    x = torch.empty(mb * 2**20 // 4, dtype=torch.float32)
    y = torch.empty_like(x)
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        y.copy_(x)
        best = max(best, 2 * x.numel() * 4 / (time.perf_counter() - t0))
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--params", type=int, default=134_515_008, help="model parameters (default: SmolLM2-135M)")
    args = ap.parse_args()
    bw = bandwidth()
    print(f"memory bandwidth {bw / 1e9:.1f} GB/s")
    for dtype, size in ((torch.float32, 4), (torch.bfloat16, 2)):
        f = matmul_flops(dtype)
        print(f"{str(dtype):<15} matmul {f / 1e9:7.1f} GFLOP/s | decode batch 1 <= {bw / (size * args.params):6.0f} tok/s"
              f" | decode large batch <= {f / (2 * args.params):6.0f} tok/s | training <= {f / (6 * args.params):6.0f}"
              " tok/s")


if __name__ == "__main__":
    main()
