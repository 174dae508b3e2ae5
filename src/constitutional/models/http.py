"""OpenAI-compatible HTTP backend (vLLM, llama.cpp server, Ollama, hosted APIs).

Requests run concurrently (``concurrency`` at a time) on one async client;
each retries with exponential backoff on connection errors, timeouts, 429 and
5xx. Option probabilities come from ``logprobs``/``top_logprobs`` of a
one-token completion: an option's probability is the mass of the top tokens
that start it (an approximation for multi-token options, exact when each
option's first token is distinct, as with "A"/"B").
"""

from __future__ import annotations

import asyncio
import math
import os
import random
from collections.abc import Sequence

import httpx

from constitutional.core.errors import ConstitutionalError
from constitutional.models.base import Conversation, SamplingParams, truncate_at_stop
from constitutional.models.hf import normalize_logprobs

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class OpenAIGenerator:
    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, concurrency: int = 8,
                 timeout: float = 120.0, max_retries: int = 4, backoff: float = 0.5):
        self.base_url, self.model = base_url.rstrip("/"), model
        self.name = f"openai:{self.base_url}#{model}"
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY", "none")
        self.concurrency, self.timeout, self.max_retries, self.backoff = concurrency, timeout, max_retries, backoff

    # -- transport -------------------------------------------------------------------------------
    async def _post(self, client: httpx.AsyncClient, sem: asyncio.Semaphore, body: dict) -> dict:
        url = f"{self.base_url}/chat/completions"
        last = ""
        for attempt in range(self.max_retries + 1):
            async with sem:
                try:
                    r = await client.post(url, json=body)
                    if r.status_code < 400:
                        return r.json()
                    last = f"HTTP {r.status_code}: {r.text[:200]}"
                    if r.status_code not in RETRY_STATUS:
                        break
                except (httpx.TransportError, httpx.TimeoutException) as e:
                    last = f"{type(e).__name__}: {e}"
            if attempt < self.max_retries:  # full jitter backoff
                await asyncio.sleep(self.backoff * (2**attempt) * (0.5 + random.random() / 2))
        raise ConstitutionalError(
            f"endpoint {url} failed after {self.max_retries + 1} attempts ({last})", field="model",
            hint="check that the server is running and the model name after '#' is one it serves",
        )

    async def _gather(self, bodies: list[dict]) -> list[dict]:
        sem = asyncio.Semaphore(self.concurrency)
        headers = {"Authorization": f"Bearer {self.api_key}"}
        async with httpx.AsyncClient(timeout=self.timeout, headers=headers) as client:
            return await asyncio.gather(*(self._post(client, sem, b) for b in bodies))

    def _run(self, bodies: list[dict]) -> list[dict]:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._gather(bodies))
        # called from inside an event loop (e.g. a FastAPI handler): use a private loop in a thread
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            return ex.submit(asyncio.run, self._gather(bodies)).result()

    # -- protocol --------------------------------------------------------------------------------
    def generate(self, conversations: Sequence[Conversation], params: SamplingParams) -> list[str]:
        return [text for text, _ in self.generate_with_usage(conversations, params)]

    def generate_with_usage(self, conversations: Sequence[Conversation],
                            params: SamplingParams) -> list[tuple[str, int | None]]:
        """``generate``, plus each reply's completion tokens as the server counted them
        (None when it reports no ``usage``): the evaluation's tokens per response."""
        bodies = []
        for conv in conversations:
            body = {"model": self.model, "messages": list(conv), "max_tokens": params.max_new_tokens,
                    "temperature": params.temperature, "top_p": params.top_p, "seed": params.seed}
            if params.stop:
                body["stop"] = list(params.stop)
            bodies.append(body)
        out = []
        for resp in self._run(bodies):
            text = resp["choices"][0]["message"].get("content") or ""
            tokens = (resp.get("usage") or {}).get("completion_tokens")
            out.append((truncate_at_stop(text, params.stop).strip(), tokens if isinstance(tokens, int) else None))
        return out

    def option_probs(self, conversations: Sequence[Conversation], options: Sequence[str]) -> list[list[float]]:
        bodies = [{"model": self.model, "messages": list(c), "max_tokens": 1, "temperature": 0.0,
                   "logprobs": True, "top_logprobs": 20} for c in conversations]
        out = []
        for resp in self._run(bodies):
            content = (resp["choices"][0].get("logprobs") or {}).get("content") or []
            if not content:
                raise ConstitutionalError(
                    f"endpoint {self.base_url} returned no logprobs", field="model",
                    hint="judging needs a server that supports logprobs/top_logprobs (vLLM, llama.cpp server, OpenAI)",
                )
            top = content[0].get("top_logprobs") or []
            out.append(normalize_logprobs([_option_logprob(o, top) for o in options]))
        return out


def _option_logprob(option: str, top: list[dict]) -> float:
    """log of the total probability of top tokens that begin ``option``
    (ignoring leading whitespace). ``("(A)", [{"token": "(", ...}])`` matches."""
    target = option.lstrip()
    mass = sum(math.exp(t["logprob"]) for t in top
               if t["token"].strip() and target.startswith(t["token"].lstrip()))
    return math.log(mass) if mass > 0 else -math.inf
