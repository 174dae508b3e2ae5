"""The model behind the guard.

- An endpoint (``openai:http://host:port/v1#model``): one request per client
  request through ``httpx``, streamed when the client streams, with the
  served model id read from the response (the audit log pins it).
- A local model (the embedded model, a checkpoint, a mock): concurrent
  requests are micro-batched into one ``generate`` call at a time (torch
  already uses every core); it does not stream, so a stream gets the whole
  reply at once, after one check.

Anything unusable (a connection error, a timeout, an HTTP error, a body
that is not a chat completion) raises ``UpstreamError``: the guard closes
the request; it never passes on text it could not read.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import AsyncIterator

import httpx

from constitutional.core.errors import ConstitutionalError
from constitutional.models.base import Conversation, SamplingParams


class UpstreamError(Exception):
    """The upstream failed or answered something the guard cannot read."""


class HttpUpstream:
    def __init__(self, base_url: str, model: str, timeout_s: float, api_key: str | None = None):
        self.base_url, self.model = base_url.rstrip("/"), model
        self.name = f"openai:{self.base_url}#{model}"
        key = api_key or os.environ.get("CONSTITUTIONAL_UPSTREAM_KEY") or os.environ.get("OPENAI_API_KEY", "none")
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), headers={"Authorization": f"Bearer {key}"},
                                        limits=httpx.Limits(max_connections=256, max_keepalive_connections=64))

    def _body(self, messages: Conversation, params: SamplingParams, stream: bool) -> dict:
        body = {"model": self.model, "messages": list(messages), "max_tokens": params.max_new_tokens,
                "temperature": params.temperature, "top_p": params.top_p, "stream": stream}
        if params.stop:
            body["stop"] = list(params.stop)
        return body

    async def complete(self, messages: Conversation, params: SamplingParams) -> tuple[str, str]:
        try:
            r = await self.client.post(f"{self.base_url}/chat/completions", json=self._body(messages, params, False))
        except httpx.HTTPError as e:
            raise UpstreamError(f"{type(e).__name__}: {e}") from None
        if r.status_code >= 400:
            raise UpstreamError(f"HTTP {r.status_code}: {r.text[:200]}")
        try:
            data = r.json()
            text = data["choices"][0]["message"]["content"]
            if not isinstance(text, str):
                raise TypeError("content is not text")
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise UpstreamError(f"not a chat completion ({type(e).__name__}: {e}): {r.text[:200]!r}") from None
        return text, str(data.get("model") or self.model)

    async def stream(self, messages: Conversation, params: SamplingParams) -> AsyncIterator[tuple[str, str]]:
        """(text delta, served model id) as the upstream sends them."""
        try:
            async with self.client.stream("POST", f"{self.base_url}/chat/completions",
                                          json=self._body(messages, params, True)) as r:
                if r.status_code >= 400:
                    raise UpstreamError(f"HTTP {r.status_code}: {(await r.aread())[:200]!r}")
                async for line in r.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    try:
                        chunk = json.loads(data)
                        choices = chunk["choices"]
                        delta = ((choices[0].get("delta") or {}).get("content") or "") if choices else ""
                    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as e:
                        raise UpstreamError(f"not a chat completion chunk ({type(e).__name__}): {data[:200]!r}") from None
                    if not isinstance(delta, str):
                        raise UpstreamError(f"a chunk's content is not text: {data[:200]!r}")
                    yield delta, str(chunk.get("model") or self.model)
        except httpx.HTTPError as e:
            raise UpstreamError(f"{type(e).__name__}: {e}") from None
        raise UpstreamError("the stream ended without [DONE]")

    async def aclose(self) -> None:
        await self.client.aclose()


class LocalUpstream:
    """Concurrent requests are micro-batched into one ``generate`` call (the model server's ``MicroBatcher``)."""

    def __init__(self, generator, timeout_s: float):
        from constitutional.models.serve import MicroBatcher

        self.gen, self.timeout_s, self.name = generator, timeout_s, generator.name
        self.batcher = MicroBatcher(generator, threading.Lock())

    async def complete(self, messages: Conversation, params: SamplingParams) -> tuple[str, str]:
        try:
            text = await asyncio.wait_for(asyncio.to_thread(self.batcher.generate, list(messages), params),
                                          self.timeout_s)
        except TimeoutError:
            raise UpstreamError(f"the local model took more than {self.timeout_s:g}s") from None
        except Exception as e:  # noqa: BLE001 - any model failure closes the request
            raise UpstreamError(f"{type(e).__name__}: {e}") from None
        return text, self.name

    async def stream(self, messages: Conversation, params: SamplingParams) -> AsyncIterator[tuple[str, str]]:
        text, name = await self.complete(messages, params)
        yield text, name

    async def aclose(self) -> None:
        return None


def make_upstream(spec: str, timeout_s: float):
    from constitutional.models import load_generator
    from constitutional.models.endpoint import DEFAULT_KEY_ENV, parse_endpoint

    if spec.startswith("openai:"):
        endpoint = parse_endpoint(spec)
        if len(endpoint.urls) > 1:
            raise ConstitutionalError("the guard relays to one upstream URL, not a pool", field="upstream",
                                      hint="put a load balancer in front of the pool and name its URL")
        key = endpoint.api_key() if endpoint.key_env != DEFAULT_KEY_ENV else None
        return HttpUpstream(endpoint.urls[0], endpoint.model, timeout_s, api_key=key)
    return LocalUpstream(load_generator(spec), timeout_s)
