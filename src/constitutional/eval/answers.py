"""Answer every suite with one model, timing each answer, and keep the answers.

Answers go to an append-only record store (``responses.jsonl``), written as
each batch or request returns, so a killed evaluation resumes where it
stopped and a rerun generates nothing. The store, not the run's call cache,
is what makes reruns free here: a cache hit has no latency to report, and
an answer another stage already cached would come back untimed.

What "latency" means depends on the backend, and each record says which:
- endpoints (``openai:``): ``request``, the wall time of one HTTP request,
  with ``concurrency`` requests in flight (what a client of that server sees);
- local models: ``batch``, the wall time of the batched ``generate`` call the
  answer was part of (every answer in a batch gets the same number). It is
  the time a caller waits for that answer, not the model's time per answer.
Tokens per response: the server's ``usage.completion_tokens`` for endpoints,
the model's own tokenizer for local models.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed

from constitutional.core.config import GENERATION_BATCH
from constitutional.core.runs import CallCache, RecordStore
from constitutional.eval.suites import Suite
from constitutional.models.base import Generator, SamplingParams

SCHEMA = "constitutional.eval_response/1"


def answer_key(model_name: str, suite: str, messages, params: SamplingParams) -> str:
    """Same model, suite, conversation and sampling settings -> same key (the resume lookup)."""
    return CallCache.key("eval-answer", model_name, suite, list(messages), params.to_dict())


def _tokens(gen: Generator, text: str) -> int | None:
    tok = getattr(gen, "tokenizer", None)
    return len(tok(text, add_special_tokens=False)["input_ids"]) if tok is not None else None


def _record(label: str, gen: Generator, suite: Suite, p, key: str, params: SamplingParams, text: str,
            seconds: float, latency: str, in_flight: int, tokens: int | None) -> dict:
    return {"id": f"{label}/{suite.name}/{p.id}", "key": key, "model": label, "model_name": gen.name,
            "suite": suite.name, "kind": suite.kind, "prompt_id": p.id, "category": p.category,
            "messages": list(p.messages), "request": suite.request(p), "response": text, "seconds": round(seconds, 4),
            "latency": latency,
            "in_flight": in_flight, "tokens": tokens, "params": params.to_dict()}


def answer_suites(label: str, gen: Generator, suites: Sequence[Suite], params: SamplingParams, store: RecordStore,
                  batch_size: int = GENERATION_BATCH, concurrency: int = 8,
                  progress: Callable[[int], None] | None = None) -> tuple[list[dict], int]:
    """One record per (suite, prompt), in suite order; returns ``(records, newly generated)``."""
    have = {r["key"]: r for r in store if r.get("model") == label}
    items = [(s, p, answer_key(gen.name, s.name, p.messages, params)) for s in suites for p in s.prompts]
    todo = [(s, p, k) for s, p, k in items if k not in have]
    if progress:
        progress(len(items) - len(todo))
    new: dict[str, dict] = {}

    def keep(rec: dict) -> None:
        store.append(rec)
        new[rec["key"]] = rec
        if progress:
            progress(1)

    if hasattr(gen, "generate_with_usage"):  # an endpoint: time each request
        def one(item):
            s, p, k = item
            t0 = time.perf_counter()
            (text, tokens), = gen.generate_with_usage([list(p.messages)], params)
            return item, text, time.perf_counter() - t0, tokens

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for fut in as_completed([pool.submit(one, it) for it in todo]):
                (s, p, k), text, seconds, tokens = fut.result()
                keep(_record(label, gen, s, p, k, params, text, seconds, "request", concurrency, tokens))
    else:  # a local model: time each batch; similar lengths share one (less padding)
        todo.sort(key=lambda it: sum(len(m["content"]) for m in it[1].messages))
        for start in range(0, len(todo), batch_size):
            chunk = todo[start:start + batch_size]
            t0 = time.perf_counter()
            texts = gen.generate([list(p.messages) for _, p, _ in chunk], params)
            seconds = time.perf_counter() - t0
            for (s, p, k), text in zip(chunk, texts):
                keep(_record(label, gen, s, p, k, params, text, seconds, "batch", len(chunk), _tokens(gen, text)))
    found = {**have, **new}
    return [found[k] for _, _, k in items], len(new)


def latency_note(records: Sequence[dict]) -> str:
    """One sentence for the report: what the latency numbers of these records are."""
    kinds = {r.get("latency") for r in records}
    parts = []
    if "request" in kinds:
        n = max(r.get("in_flight", 1) for r in records if r.get("latency") == "request")
        parts.append(f"for endpoints, the wall time of one HTTP request with up to {n} in flight")
    if "batch" in kinds:
        n = max(r.get("in_flight", 1) for r in records if r.get("latency") == "batch")
        parts.append(f"for local models, the wall time of the batched generate call the answer was in (batches of "
                     f"up to {n}), not a per-answer time")
    return "Latency: " + "; ".join(parts) + "." if parts else ""
