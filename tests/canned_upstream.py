"""A loopback OpenAI-style upstream that returns canned text: for fault injection and load only.

``CannedUpstream(rules, default)``: the first rule whose regex matches the
last user message gives the reply. ``mode`` switches what it does:
``ok``, ``slow`` (sleeps ``delay_s`` first), ``malformed`` (a 200 whose body
is not a chat completion), ``error`` (HTTP 500). Streams come in
``chunk_chars`` pieces ``chunk_delay_s`` apart. ``hits`` counts requests.
"""

from __future__ import annotations

import asyncio
import json
import re

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse


class CannedUpstream:
    def __init__(self, rules: list[tuple[str, str]] | None = None, default: str = "Here is a short, friendly answer.",
                 model: str = "canned-model-v1"):
        self.rules, self.default, self.model = list(rules or []), default, model
        self.mode, self.delay_s, self.chunk_chars, self.chunk_delay_s = "ok", 0.0, 8, 0.0
        self.hits = 0

    def reply(self, messages: list[dict]) -> str:
        last = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        return next((r for rx, r in self.rules if re.search(rx, last, re.IGNORECASE)), self.default)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            self.hits += 1
            body = await request.json()
            if self.mode == "slow":
                await asyncio.sleep(self.delay_s)
            if self.mode == "error":
                return PlainTextResponse("upstream exploded", status_code=500)
            if self.mode == "malformed":
                return PlainTextResponse("<html>not json</html>" if not body.get("stream") else "data: {oops\n\n")
            text = self.reply(body["messages"])
            if not body.get("stream"):
                return JSONResponse({"id": "x", "object": "chat.completion", "model": self.model,
                                     "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                                  "finish_reason": "stop"}]})

            async def events():
                for i in range(0, len(text), self.chunk_chars):
                    if self.chunk_delay_s:
                        await asyncio.sleep(self.chunk_delay_s)
                    chunk = {"id": "x", "object": "chat.completion.chunk", "model": self.model,
                             "choices": [{"index": 0, "delta": {"content": text[i:i + self.chunk_chars]},
                                          "finish_reason": None}]}
                    yield f"data: {json.dumps(chunk)}\n\n"
                yield "data: [DONE]\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")

        return app
