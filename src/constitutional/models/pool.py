"""Client-side load balancing over the servers of one endpoint spec.

Each request goes to the healthy member with the fewest requests in flight.
A connection error, timeout, 408/409/429 or 5xx takes that member out of
rotation for a cooldown that doubles with each consecutive failure (with
jitter), and the request is retried on another member; a member comes back
only after its cooldown ends and a health check (``GET /models``) passes. A
pool of one is the old single-endpoint client: its retries simply wait out
the cooldown. Errors that are the request's fault (400, 401, 404, 422) are not
retried: another server would answer the same.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

import httpx

from constitutional.core.errors import ConstitutionalError

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class EndpointError(ConstitutionalError):
    """A request the server refused for what it is (not retried); ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int, **kw):
        super().__init__(message, **kw)
        self.status = status


@dataclass
class Member:
    url: str
    in_flight: int = 0
    failures: int = 0  # consecutive
    down_until: float = 0.0  # time.monotonic(); 0 = up
    checked: bool = False  # a health check has passed since it was last down
    served: int = 0
    errors: list[str] = field(default_factory=list)

    def up(self, now: float) -> bool:
        return self.down_until <= now and self.checked


class EndpointPool:
    def __init__(self, urls: tuple[str, ...], *, max_retries: int = 4, backoff: float = 0.5,
                 max_cooldown: float = 30.0, health_timeout: float = 5.0):
        self.members = [Member(u) for u in urls]
        self.max_retries, self.backoff, self.max_cooldown = max_retries, backoff, max_cooldown
        self.health_timeout = health_timeout

    # -- health ----------------------------------------------------------------------------------
    async def _check(self, client: httpx.AsyncClient, m: Member) -> str | None:
        """``GET /models``: any answer below 500 means the server is there (some serve no model list).
        Returns why it failed, or None."""
        try:
            r = await client.get(f"{m.url}/models", timeout=self.health_timeout)
            why = None if r.status_code < 500 else f"health check: HTTP {r.status_code}"
        except (httpx.TransportError, httpx.TimeoutException) as e:
            why = f"health check: {type(e).__name__}: {e}"
        if why is None:
            m.checked = True
        else:
            self._down(m, why)
        return why

    def _down(self, m: Member, why: str) -> None:
        m.failures += 1
        m.checked = False
        m.errors.append(why)
        wait = min(self.max_cooldown, self.backoff * 2 ** (m.failures - 1)) * (0.5 + random.random() / 2)
        m.down_until = time.monotonic() + wait

    async def _pick(self, client: httpx.AsyncClient) -> Member | str:
        """The least-loaded member in rotation; if none is, wait for the first cooldown to end and health-check
        every member that is due, once. Returns why none came back if none did."""
        for _ in range(2):
            now = time.monotonic()
            up = [m for m in self.members if m.up(now)]
            if up:
                best = min(m.in_flight for m in up)
                return random.choice([m for m in up if m.in_flight == best])
            due = [m for m in self.members if m.down_until <= now and not m.checked]
            if not due:
                await asyncio.sleep(max(0.0, min(m.down_until for m in self.members) - now))
                due = [m for m in self.members if m.down_until <= time.monotonic() and not m.checked]
            whys = await asyncio.gather(*(self._check(client, m) for m in due))
        return "; ".join(w for w in whys if w) or "no server in rotation"

    # -- requests --------------------------------------------------------------------------------
    async def post(self, client: httpx.AsyncClient, path: str, body: dict) -> dict:
        tried: list[str] = []
        for _ in range(self.max_retries + 1):
            m = await self._pick(client)
            if isinstance(m, str):
                tried.append(m)
                continue
            m.in_flight += 1
            try:
                r = await client.post(f"{m.url}{path}", json=body)
                why = None if r.status_code < 400 else f"HTTP {r.status_code}: {r.text[:200]}"
            except (httpx.TransportError, httpx.TimeoutException) as e:
                r, why = None, f"{type(e).__name__}: {e}"
            finally:
                m.in_flight -= 1
            if why is None:
                m.failures, m.served = 0, m.served + 1
                try:
                    return r.json()
                except ValueError:
                    why = f"not JSON: {r.text[:200]!r}"
            elif r is not None and r.status_code not in RETRY_STATUS:
                raise EndpointError(f"{m.url}{path} refused the request ({why})", r.status_code, field="model",
                                    hint="check the model name after '#', the API key (key_env) and the request "
                                         "options this server supports")
            tried.append(f"{m.url}: {why}")
            self._down(m, why)
        urls = "|".join(m.url for m in self.members)
        raise ConstitutionalError(
            f"endpoint {urls}: {path} failed after {len(tried)} attempts ({'; '.join(tried[-3:])})", field="model",
            hint="check that the server is running (each one, for a pool) and the model name after '#' is one it "
                 "serves",
        )

    def summary(self) -> list[dict]:
        """Per member: requests served, failures so far, and whether it is in rotation now."""
        now = time.monotonic()
        return [{"url": m.url, "served": m.served, "errors": len(m.errors), "up": m.up(now) or not m.errors}
                for m in self.members]
