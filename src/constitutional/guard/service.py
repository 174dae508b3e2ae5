"""One request through the guard: input rail, upstream, output rail, audit row. Fail-closed.

``Guard.complete`` answers a request whole; ``Guard.stream`` yields the
reply in steps, each released only after the output rail has passed all the
text up to its end (``stream.window_chars`` apart, and once more at the
end), so no unchecked token reaches the client. A stream that fails a check
is halted: what was released had passed, the rest is withheld, and the
client is told (``finish_reason: content_filter``).

A rail or upstream failure raises ``GuardFailure`` (the server answers 502
or 504 with the reason) unless that rail's ``on_error`` is ``allow``; the
audit row is written either way, in ``finally``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from constitutional.guard.audit import AuditLog
from constitutional.guard.policy import Policy
from constitutional.guard.rails import Rails, Verdict
from constitutional.guard.upstream import UpstreamError
from constitutional.models.base import Conversation, SamplingParams

log = logging.getLogger("constitutional.guard")


class GuardFailure(Exception):
    """The request cannot be answered safely; ``status`` is the HTTP status the server sends."""

    def __init__(self, message: str, status: int = 502, code: str = "rail_error"):
        super().__init__(message)
        self.status, self.code = status, code

    @classmethod
    def upstream(cls, e: Exception, timeout_s: float) -> GuardFailure:
        if isinstance(e, TimeoutError):
            return cls(f"the upstream took more than {timeout_s:g}s", 504, "upstream_timeout")
        return cls(f"the upstream failed: {e}", 502, "upstream_error")


@dataclass
class Exchange:
    """What one request did: the audit row's fields."""

    messages: Conversation
    request_id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    api_key: str | None = None
    requested_model: str | None = None
    stream: bool = False
    input: Verdict | None = None
    output: Verdict | None = None
    upstream_text: str | None = None
    upstream_model: str | None = None
    text: str = ""
    finish_reason: str = "stop"
    outcome: str = "error"
    error: str | None = None
    t0: float = field(default_factory=time.perf_counter)

    @property
    def verdicts(self) -> list[Verdict]:
        return [v for v in (self.input, self.output) if v is not None]


class Guard:
    def __init__(self, policy: Policy, rails: Rails, upstream, audit: AuditLog, metrics=None):
        self.policy, self.rails, self.upstream, self.audit, self.metrics = policy, rails, upstream, audit, metrics

    # -- rails -------------------------------------------------------------------------------------------
    async def _rail(self, name: str, fn, *args) -> Verdict:
        on_error = getattr(self.policy, name).on_error
        t0 = time.perf_counter()
        try:
            verdict = await asyncio.wait_for(asyncio.to_thread(fn, *args), self.policy.rail_timeout_s)
        except Exception as e:  # noqa: BLE001 - any rail failure is handled by the policy, never ignored
            reason = "timed out" if isinstance(e, TimeoutError) else f"{type(e).__name__}: {e}"
            if on_error != "allow":
                raise GuardFailure(f"the {name} rail failed ({reason}); the request was not answered", 502) from None
            log.critical("BYPASS: the %s rail failed (%s) and the policy says on_error: allow", name, reason)
            verdict = Verdict(name, "allow", 0.0, reason="bypassed", error=reason, bypassed=True,
                              latency_ms=(time.perf_counter() - t0) * 1000)
        if self.metrics:
            self.metrics.rail(name, verdict)
        return verdict

    async def _upstream(self, messages: Conversation, params: SamplingParams) -> tuple[str, str]:
        try:
            return await asyncio.wait_for(self.upstream.complete(messages, params), self.policy.upstream_timeout_s)
        except (TimeoutError, UpstreamError) as e:
            raise GuardFailure.upstream(e, self.policy.upstream_timeout_s) from None

    async def _input(self, ex: Exchange) -> bool:
        """Run the input rail; True if the request is answered by a block (no upstream call)."""
        if not self.policy.input.enabled:
            return False
        ex.input = await self._rail("input", self.rails.check_input, ex.messages)
        if ex.input.action == "block":
            self._block(ex, ex.input, "blocked_input")
            return True
        return False

    def _block(self, ex: Exchange, verdict: Verdict, outcome: str) -> None:
        ex.text, ex.finish_reason, ex.outcome = self.rails.refusal_text(verdict.principle), "content_filter", outcome

    def _disclaims(self, ex: Exchange) -> bool:
        return ex.input is not None and ex.input.action == "disclaim"

    def _settle(self, ex: Exchange, text: str) -> None:
        """The outcome of an answered request (the output rail passed or flagged it)."""
        if self._disclaims(ex):
            text = f"{self.policy.disclaimer}\n\n{text}"
            ex.outcome = "disclaimed"
        else:
            ex.outcome = "flagged" if any(v.action == "flag" for v in ex.verdicts) else "allowed"
        ex.text = text

    # -- whole replies -----------------------------------------------------------------------------------
    async def complete(self, ex: Exchange, params: SamplingParams) -> Exchange:
        try:
            if await self._input(ex):
                return ex
            ex.upstream_text, ex.upstream_model = await self._upstream(ex.messages, params)
            text = ex.upstream_text
            if self.policy.output.enabled:
                ex.output = await self._rail("output", self.rails.check_output, ex.messages, text)
                if ex.output.action == "revise":
                    text = await self._revise(ex, params, text)
                    if text is None:
                        return ex
                    ex.outcome = "revised"
                    ex.text = text
                    return ex
                if ex.output.action == "block":
                    self._block(ex, ex.output, "blocked_output")
                    return ex
            self._settle(ex, text)
            return ex
        except GuardFailure as e:
            ex.outcome, ex.error = "error", str(e)
            raise
        finally:
            await asyncio.to_thread(self._record, ex)

    async def _revise(self, ex: Exchange, params: SamplingParams, text: str) -> str | None:
        """Critique and revise through the upstream under the principle's own requests; a revision that
        still fails the rail is blocked (returns None, ``ex`` set to the block)."""
        critique_req, revision_req = self.rails.revision_requests(ex.output.principle) or (
            "Identify anything harmful in your last response.", "Rewrite your response to remove anything harmful.")
        conv = [*ex.messages, {"role": "assistant", "content": text}, {"role": "user", "content": critique_req}]
        critique, _ = await self._upstream(conv, params)
        conv += [{"role": "assistant", "content": critique}, {"role": "user", "content": revision_req}]
        revised, _ = await self._upstream(conv, params)
        again = await self._rail("output", self.rails.check_output, ex.messages, revised)
        ex.output.reason += f"; revised, then {again.action} (score {again.score:.3f})"
        if again.action in ("block", "revise"):
            self._block(ex, ex.output, "blocked_output")
            return None
        return revised

    # -- streams -----------------------------------------------------------------------------------------
    async def stream(self, ex: Exchange, params: SamplingParams) -> AsyncIterator[str]:
        """Checked text deltas. The input rail and the upstream's first failure raise before the first
        yield where they can, so the server can still answer with an HTTP error."""
        ex.stream = True
        try:
            if await self._input(ex):
                yield ex.text
                return
            buf, released = "", 0
            window = self.policy.stream.window_chars
            prefix = f"{self.policy.disclaimer}\n\n" if self._disclaims(ex) else ""
            if prefix:
                yield prefix
            agen = self.upstream.stream(ex.messages, params)
            deadline = time.monotonic() + self.policy.upstream_timeout_s
            while True:
                try:
                    delta, ex.upstream_model = await asyncio.wait_for(agen.__anext__(), max(0.0, deadline - time.monotonic()))
                except StopAsyncIteration:
                    break
                except (TimeoutError, UpstreamError) as e:
                    raise GuardFailure.upstream(e, self.policy.upstream_timeout_s) from None
                buf += delta
                ex.upstream_text = buf
                if len(buf) - released >= window:
                    if not await self._stream_check(ex, buf):
                        yield self._halt(ex, released)
                        return
                    yield buf[released:]
                    released = len(buf)
            ex.upstream_text = buf
            if not await self._stream_check(ex, buf):
                yield self._halt(ex, released)
                return
            if buf[released:]:
                yield buf[released:]
            self._settle(ex, buf)
        except GuardFailure as e:
            ex.outcome, ex.error = "error", str(e)
            raise
        except (GeneratorExit, asyncio.CancelledError):
            ex.outcome, ex.error = "error", "the client went away before the stream ended"
            raise
        finally:
            self._record(ex)

    async def _stream_check(self, ex: Exchange, text: str) -> bool:
        if not self.policy.output.enabled:
            return True
        verdict = await self._rail("output", self.rails.check_output, ex.messages, text)
        if ex.output is None or verdict.action != "allow" or ex.output.action == "allow":
            ex.output = verdict  # keep the most severe verdict seen
        return verdict.action not in ("block", "revise")

    def _halt(self, ex: Exchange, released: int) -> str:
        notice = "\n\n[The rest of this reply was withheld: " + self.rails.refusal_text(ex.output.principle) + "]"
        prefix = f"{self.policy.disclaimer}\n\n" if self._disclaims(ex) else ""
        ex.text = prefix + (ex.upstream_text or "")[:released] + notice
        ex.finish_reason, ex.outcome = "content_filter", "halted"
        return notice

    # -- the audit row -----------------------------------------------------------------------------------
    def _record(self, ex: Exchange) -> None:
        category = next((v.category for v in ex.verdicts if v.category and v.action != "allow"), None)
        self.audit.write(
            request_id=ex.request_id, outcome=ex.outcome, messages=list(ex.messages), api_key=ex.api_key,
            stream=ex.stream, requested_model=ex.requested_model, upstream_model=ex.upstream_model,
            input_rail=ex.input.as_dict() if ex.input else None, output_rail=ex.output.as_dict() if ex.output else None,
            upstream_response=ex.upstream_text, final_response=ex.text, category=category,
            flagged=any(v.action == "flag" for v in ex.verdicts) or ex.outcome == "revised",
            bypassed=any(v.bypassed for v in ex.verdicts), error=ex.error,
            latency_ms=(time.perf_counter() - ex.t0) * 1000)
        if self.metrics:
            self.metrics.request(ex.outcome)
