"""YAML reading: libyaml's C parser against the pure-Python one, on one large constitution, in one run.

The text is the packaged cai-2022 constitution repeated with fresh principle
ids until it reaches --mb megabytes; both arms run ``yamlio.load_yaml_text``
(parse, line numbers, alias and duplicate checks, construction), and the
C-parser arm also through ``load_constitution`` (validation included).

    .venv/bin/python benchmarks/bench_yaml.py --mb 4
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import yaml

from constitutional.constitution import load_constitution, resolve
from constitutional.core import yamlio


def big_constitution(mb: float) -> str:
    data = yaml.safe_load(resolve("cai-2022").read_text(encoding="utf-8"))
    base = data["principles"]
    principles, n = [], 0
    while len(yaml.safe_dump({"principles": principles})) < mb * 1e6:
        principles += [{**copy.deepcopy(p), "id": f"{p['id']}-{n}"} for p in base]
        n += 1
    return yaml.safe_dump({**data, "principles": principles}, sort_keys=False)


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=4.0)
    args = ap.parse_args()
    text = big_constitution(args.mb)
    fast = timed(lambda: yamlio.load_yaml_text(text, "big.yaml"))
    c_loader, yamlio._Loader = yamlio._Loader, yaml.SafeLoader
    slow = timed(lambda: yamlio.load_yaml_text(text, "big.yaml"), repeat=1)
    yamlio._Loader = c_loader
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.yaml"
        path.write_text(text, encoding="utf-8")
        full = timed(lambda: load_constitution(path), repeat=1)
    print(f"{len(text) / 1e6:.1f} MB constitution: pure-Python parser {slow:.2f}s, libyaml {fast:.2f}s "
          f"({slow / fast:.1f}x); load_constitution with validation {full:.2f}s")


if __name__ == "__main__":
    main()
