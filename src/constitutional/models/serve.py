"""A minimal OpenAI-compatible server for a local transformers model.

``constitutional serve --model=hf:runs/demo/sft/model --port 8000`` puts a
checkpoint behind ``/v1/chat/completions`` (with ``logprobs`` and
``top_logprobs``) and ``/v1/models``, so any OpenAI client, eval harness or
our own HTTP backend can use it.

Concurrent requests are micro-batched: a worker thread takes whatever
arrived within ``window_s`` (up to the generator's batch size), groups it by
sampling parameters and makes one batched ``generate`` call per group. This
is for local use and tests, not production traffic (use vLLM there).
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import Future

import torch
from fastapi import FastAPI
from pydantic import BaseModel, Field

from constitutional.models.base import SamplingParams
from constitutional.models.hf import TransformersGenerator


class ChatMessage(BaseModel):
    role: str
    content: str


class ChatRequest(BaseModel):
    model: str = "default"
    messages: list[ChatMessage]
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: str | list[str] | None = None
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)


class MicroBatcher:
    """Collects concurrent generate requests into batched calls, one at a time
    (torch already uses every core; two forward passes would only contend)."""

    def __init__(self, gen, lock: threading.Lock, window_s: float = 0.01):
        self.gen, self.lock, self.window_s = gen, lock, window_s
        self.max_batch = getattr(gen, "batch_size", 8)
        self.calls = 0  # batched generate calls made, for tests and logs
        self._queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._loop, daemon=True, name="microbatcher").start()

    def generate(self, conv, params: SamplingParams) -> str:
        fut: Future = Future()
        self._queue.put((conv, params, fut))
        return fut.result()

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            deadline = time.monotonic() + self.window_s
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            groups = defaultdict(list)
            for conv, params, fut in batch:
                groups[params].append((conv, fut))
            for params, items in groups.items():
                try:
                    with self.lock:
                        self.calls += 1
                        outs = self.gen.generate([c for c, _ in items], params)
                except Exception as e:  # noqa: BLE001 - handed to the waiting request
                    for _, fut in items:
                        fut.set_exception(e)
                    continue
                for (_, fut), out in zip(items, outs):
                    fut.set_result(out)


def create_app(gen: TransformersGenerator, model_name: str = "default", window_s: float = 0.01) -> FastAPI:
    app = FastAPI(title="constitutional model server")
    lock = threading.Lock()
    app.state.batcher = batcher = MicroBatcher(gen, lock, window_s)

    @app.get("/v1/models")
    def models():
        return {"object": "list", "data": [{"id": model_name, "object": "model", "owned_by": "constitutional"}]}

    @app.post("/v1/chat/completions")
    def chat(req: ChatRequest):
        conv = [m.model_dump() for m in req.messages]
        stop = (req.stop,) if isinstance(req.stop, str) else tuple(req.stop or ())
        params = SamplingParams(max_new_tokens=req.max_completion_tokens or req.max_tokens or 256,
                                temperature=req.temperature, top_p=req.top_p, seed=req.seed or 0, stop=stop)
        text = batcher.generate(conv, params)
        logprobs = None
        if req.logprobs:
            with lock:
                logprobs = _top_logprobs(gen, conv, req.top_logprobs or 1)
        n_prompt = len(gen.encode(conv))
        n_out = len(gen.tokenizer(text, add_special_tokens=False)["input_ids"])
        finish = "length" if n_out >= params.max_new_tokens else "stop"
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish,
                  "logprobs": logprobs}
        return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
                "model": model_name, "choices": [choice],
                "usage": {"prompt_tokens": n_prompt, "completion_tokens": n_out, "total_tokens": n_prompt + n_out}}

    return app


@torch.inference_mode()
def _top_logprobs(gen: TransformersGenerator, conv, k: int) -> dict:
    """Logprobs of the first generated position (enough for judges)."""
    ids = torch.tensor([gen.encode(conv)], device=gen.device)
    lp = torch.log_softmax(gen.model(input_ids=ids, logits_to_keep=1).logits[0, -1].float(), dim=-1)
    values, idx = lp.topk(k)
    top = [{"token": gen.tokenizer.decode([int(i)]), "logprob": float(v)} for v, i in zip(values, idx)]
    return {"content": [{"token": top[0]["token"], "logprob": top[0]["logprob"], "top_logprobs": top}]}
