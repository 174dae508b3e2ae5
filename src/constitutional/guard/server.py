"""The guard's HTTP face: an OpenAI-compatible API a client reaches by changing only ``base_url`` and the key.

- ``POST /v1/chat/completions`` (streaming and not), ``GET /v1/models``:
  need ``Authorization: Bearer KEY``; a key is compared by its SHA-256
  (``hmac.compare_digest``), never stored or logged in clear. A wrong key
  gets 401, a key over its rate (a token bucket of ``rate_per_minute``)
  429 with ``Retry-After``, a body over ``max_request_bytes`` 413, a body
  that is not a chat request 400, content the rails cannot read (images,
  tool calls) 400: it is refused, never passed on unchecked.
- A block is an ordinary completion whose text is the constitution's refusal
  and whose ``finish_reason`` is ``content_filter``; a rail or upstream
  failure is an error (502, or 504 for a timeout) with the reason.
- ``GET /healthz`` and Prometheus ``GET /metrics`` (requests by outcome,
  blocks by rail and category, rail latency, bypasses) need no key.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import threading
import time
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field, ValidationError

from constitutional.guard.policy import ApiKey, Policy
from constitutional.guard.service import Exchange, Guard, GuardFailure
from constitutional.models.base import SamplingParams

log = logging.getLogger("constitutional.guard")
PURGE_EVERY_S = 3600


class Part(BaseModel):
    type: Literal["text"]
    text: str


class Message(BaseModel):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[Part]

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class ChatRequest(BaseModel):
    model: str = ""
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1, le=32768)
    max_completion_tokens: int | None = Field(None, ge=1, le=32768)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    stream: bool = False
    stop: str | list[str] | None = None
    seed: int | None = None


class Metrics:
    """Prometheus counters and histograms, one registry per app."""

    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("guard_requests", "requests by outcome", ["outcome"], registry=self.registry)
        self.blocks = Counter("guard_blocks", "blocks by rail and category", ["rail", "category"], registry=self.registry)
        self.bypasses = Counter("guard_bypasses", "rail failures let through by on_error: allow", ["rail"],
                                registry=self.registry)
        self.latency = Histogram("guard_rail_latency_seconds", "rail latency", ["rail"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5))

    def rail(self, name: str, verdict) -> None:
        self.latency.labels(name).observe(verdict.latency_ms / 1000)
        if verdict.action == "block":
            self.blocks.labels(name, verdict.category or "unknown").inc()
        if verdict.bypassed:
            self.bypasses.labels(name).inc()

    def request(self, outcome: str) -> None:
        self.requests.labels(outcome).inc()

    def text(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


class RateLimiter:
    """A token bucket per key: ``rate_per_minute`` requests, refilled continuously."""

    def __init__(self):
        self.buckets: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def take(self, key: ApiKey) -> float:
        """0 if the request may go, else the seconds until it may."""
        rate = key.rate_per_minute / 60
        with self.lock:
            now = time.monotonic()
            tokens, last = self.buckets.get(key.name, (float(key.rate_per_minute), now))
            tokens = min(float(key.rate_per_minute), tokens + (now - last) * rate)
            if tokens < 1:
                self.buckets[key.name] = (tokens, now)
                return (1 - tokens) / rate
            self.buckets[key.name] = (tokens - 1, now)
            return 0.0


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def error(status: int, message: str, kind: str, code: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": code}}, status_code=status,
                        headers=headers)


def create_app(policy: Policy, guard: Guard) -> FastAPI:
    keys = {k.sha256: k for k in policy.security.keys}
    limiter, metrics = RateLimiter(), guard.metrics

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async def purge_loop():
            while True:
                n = await asyncio.to_thread(guard.audit.purge, policy.audit.retention_days * 86400)
                if n:
                    log.info("audit retention: purged %d rows older than %g days", n, policy.audit.retention_days)
                await asyncio.sleep(PURGE_EVERY_S)

        task = asyncio.create_task(purge_loop())
        yield
        task.cancel()
        await guard.upstream.aclose()

    app = FastAPI(title="constitutional guard", lifespan=lifespan)
    app.state.guard = guard

    def authenticate(request: Request) -> ApiKey | JSONResponse:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        digest = hash_key(token) if token else ""
        key = next((k for h, k in keys.items() if hmac.compare_digest(h, digest)), None)
        if key is None:
            return error(401, "invalid or missing API key", "invalid_request_error", "invalid_api_key")
        return key

    @app.get("/healthz")
    def healthz():
        return {"status": "ok", "upstream": guard.upstream.name, "constitution": guard.rails.clf.constitution.name,
                "constitution_hash": guard.rails.clf.constitution.fingerprint}

    @app.get("/metrics")
    def prometheus():
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(metrics.text(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models")
    def models(request: Request):
        key = authenticate(request)
        if isinstance(key, JSONResponse):
            return key
        return {"object": "list", "data": [{"id": policy.served_model, "object": "model", "owned_by": "constitutional"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        key = authenticate(request)
        if isinstance(key, JSONResponse):
            return key
        wait = limiter.take(key)
        if wait:
            return error(429, f"rate limit of {key.rate_per_minute} requests per minute reached", "rate_limit_error",
                         "rate_limit_exceeded", headers={"Retry-After": str(max(1, round(wait)))})
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > policy.security.max_request_bytes:
            return _too_large(policy)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > policy.security.max_request_bytes:
                return _too_large(policy)
        try:
            req = ChatRequest.model_validate_json(body)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            return error(400, f"not a chat completion request: {where}: {first['msg']}", "invalid_request_error",
                         "invalid_request")
        messages = [{"role": m.role, "content": m.text()} for m in req.messages]
        stop = (req.stop,) if isinstance(req.stop, str) else tuple(req.stop or ())
        params = SamplingParams(max_new_tokens=req.max_completion_tokens or req.max_tokens or policy.max_tokens,
                                temperature=req.temperature, top_p=req.top_p, seed=req.seed or 0, stop=stop)
        ex = Exchange(messages, api_key=key.name, requested_model=req.model)
        if not req.stream:
            try:
                await guard.complete(ex, params)
            except GuardFailure as e:
                return error(e.status, str(e), "guard_error", e.code)
            return JSONResponse(_completion(ex, policy.served_model), headers={"x-request-id": ex.request_id})
        agen = guard.stream(ex, params)
        try:  # the first checked text, so a failure before it is still an HTTP error
            first = await agen.__anext__()
        except GuardFailure as e:
            return error(e.status, str(e), "guard_error", e.code)
        except StopAsyncIteration:
            first = None
        return StreamingResponse(_sse(ex, policy.served_model, first, agen), media_type="text/event-stream",
                                 headers={"x-request-id": ex.request_id})

    return app


def _too_large(policy: Policy) -> JSONResponse:
    return error(413, f"request body over {policy.security.max_request_bytes} bytes", "invalid_request_error",
                 "request_too_large")


def _completion(ex: Exchange, model: str) -> dict:
    return {"id": ex.request_id, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": ex.text},
                         "finish_reason": ex.finish_reason}],
            "usage": None}


async def _sse(ex: Exchange, model: str, first: str | None, agen):
    created = int(time.time())

    def chunk(delta: dict, finish: str | None = None) -> str:
        body = {"id": ex.request_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    try:
        yield chunk({"role": "assistant", "content": ""})
        if first:
            yield chunk({"content": first})
        try:
            async for text in agen:
                yield chunk({"content": text})
        except GuardFailure as e:  # after text went out: the stream ends with an error event
            yield f"data: {json.dumps({'error': {'message': str(e), 'type': 'guard_error'}})}\n\n"
            return
        yield chunk({}, ex.finish_reason)
        yield "data: [DONE]\n\n"
    finally:
        await agen.aclose()


def build_app(policy: Policy, upstream=None) -> FastAPI:
    """The guard for a policy: its rails (the constitution's classifier, fitted here), the upstream it names
    (or ``upstream``), its audit log (migrated on open)."""
    from constitutional.guard.audit import AuditLog
    from constitutional.guard.rails import Rails
    from constitutional.guard.upstream import make_upstream

    if not policy.security.keys:
        from constitutional.core.errors import ConstitutionalError

        raise ConstitutionalError("the policy lists no API keys, so no request could be answered", field="security.keys",
                                  hint="`constitutional guard key NAME` prints a key and the line to add")
    audit = AuditLog(policy.audit.url, redact_pii=policy.audit.redact_pii, key_env=policy.audit.key_env)
    upstream = upstream or make_upstream(policy.upstream, policy.upstream_timeout_s)
    return create_app(policy, Guard(policy, Rails(policy), upstream, audit, Metrics()))
