"""The guard's added latency, against calling the upstream directly, in one run.

The upstream is a loopback server with canned text (so the figures are the
guard's own cost, not a model's). Each arm sends the same prompts one at a
time through the real ``openai`` client and reports p50 / p95 wall time:

  direct      : the client straight to the upstream
  guard, off  : through the guard with both rails off (HTTP hop, auth, audit row)
  guard, in   : the input rail on (the constitution's classifier)
  guard, both : both rails on
  rail only   : ``Rails.check_input`` in process (what the input rail adds)

and, streaming, the time to the first content token, direct against both
rails (the held-back window's cost), with the upstream sending 8 characters
every 10 ms.

    .venv/bin/python benchmarks/bench_guard.py --n 60
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import openai

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.canned_upstream import CannedUpstream  # noqa: E402
from tests.conftest import ServerThread  # noqa: E402

from constitutional.decision.classifier import ENCODE  # noqa: E402
from constitutional.guard.policy import Policy  # noqa: E402
from constitutional.guard.server import build_app, hash_key  # noqa: E402
from constitutional.prompts import load_prompts  # noqa: E402

KEY = "bench"
REPLY = ("Mash three ripe bananas, stir in melted butter, sugar, one egg and a teaspoon of baking soda, fold in "
         "flour, and bake in a loaf tin for about an hour at 175 C, until a skewer comes out clean.")


def timed(fn, prompts) -> list[float]:
    out = []
    for p in prompts:
        t0 = time.perf_counter()
        fn(p)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def ttft(client, prompts) -> list[float]:
    out = []
    for p in prompts:
        t0 = time.perf_counter()
        for chunk in client.chat.completions.create(model="m", messages=[{"role": "user", "content": p}], stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                out.append((time.perf_counter() - t0) * 1000)
                break
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=60, help="prompts per arm")
    args = ap.parse_args()
    prompts = [p.prompt for p in load_prompts("helpful", "eval")][: args.n]
    up = CannedUpstream(default=REPLY)
    rows = []
    with ServerThread(up.app()) as upstream, tempfile.TemporaryDirectory() as tmp:
        direct = openai.OpenAI(base_url=upstream.url, api_key="x", max_retries=0)
        ask = lambda client: (lambda p: client.chat.completions.create(model="m", messages=[
            {"role": "user", "content": p}]))
        ask(direct)(prompts[0])
        arms = {"direct": timed(ask(direct), prompts)}
        guards = {}
        for name, inp, out in (("guard, off", False, False), ("guard, in", True, False), ("guard, both", True, True)):
            policy = Policy.model_validate({
                "schema": "constitutional.guard/1", "upstream": f"openai:{upstream.url}#m",
                "input": {"enabled": inp}, "output": {"enabled": out}, "stream": {"window_chars": 64},
                "audit": {"url": f"sqlite:///{tmp}/{name.replace(', ', '-')}.sqlite"},
                "security": {"keys": [{"name": "b", "sha256": hash_key(KEY), "rate_per_minute": 100000}]}})
            app = build_app(policy)
            guards[name] = app
            with ServerThread(app) as g:
                client = openai.OpenAI(base_url=g.url, api_key=KEY, max_retries=0)
                ask(client)(prompts[0])
                ENCODE.cache.clear()  # every arm embeds its prompts afresh, as a server meeting new traffic does
                arms[name] = timed(ask(client), prompts)
                if name == "guard, both":
                    up.chunk_chars, up.chunk_delay_s = 8, 0.01
                    ttft_direct = ttft(direct, prompts[:20])
                    ENCODE.cache.clear()
                    ttft_guard = ttft(client, prompts[:20])
                    up.chunk_delay_s = 0.0
        rails = guards["guard, in"].state.guard.rails
        rails.check_input([{"role": "user", "content": "warm up"}])
        ENCODE.cache.clear()
        arms["rail only"] = timed(lambda p: rails.check_input([{"role": "user", "content": p}]), prompts)
    base = np.median(arms["direct"])
    for name, ms in arms.items():
        p50, p95 = np.percentile(ms, 50), np.percentile(ms, 95)
        rows.append((name, p50, p95, p50 - base if name != "rail only" else p50))
    print(f"\n{args.n} prompts (helpful/eval), one at a time, canned loopback upstream")
    print(f"{'arm':<14}{'p50 ms':>10}{'p95 ms':>10}{'added p50':>12}")
    for name, p50, p95, added in rows:
        print(f"{name:<14}{p50:>10.1f}{p95:>10.1f}{added:>12.1f}")
    print(f"\nstreaming, time to first token (20 prompts, window 64 chars, upstream 8 chars / 10 ms): "
          f"direct p50 {np.median(ttft_direct):.1f} ms, guard p50 {np.median(ttft_guard):.1f} ms "
          f"({np.median(ttft_guard) / np.median(ttft_direct):.1f}x)")


if __name__ == "__main__":
    main()
