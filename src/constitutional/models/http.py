"""OpenAI-compatible HTTP backend (vLLM, llama.cpp server, TGI, Ollama, hosted APIs).

Requests run concurrently (``concurrency`` per server) through an
``EndpointPool`` (``models.pool``: least-loaded healthy server, cooldowns,
retries on another server). A conversation that ends in a partial assistant
turn is sent the way the endpoint's ``continuation`` says
(``models.endpoint``): servers differ there, and reading the first token of a
new turn instead of the continuation puts a judge at chance.

Option probabilities come from ``logprobs``/``top_logprobs`` of a one-token
completion: an option's probability is the mass of the top tokens that begin
it (exact when each option's first token is distinct, as with "A"/"B").
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from constitutional.core.errors import ConstitutionalError
from constitutional.models.base import Conversation, SamplingParams, truncate_at_stop
from constitutional.models.endpoint import Endpoint
from constitutional.models.hf import load_tokenizer, normalize_logprobs
from constitutional.models.pool import EndpointError, EndpointPool

TOP_LOGPROBS = 20
#: the auto probe: a server that continues the partial turn says "five" next; one that starts a new turn does not
PROBE = ({"role": "user", "content": "Count from one to ten in words, separated by commas."},
         {"role": "assistant", "content": "one, two, three, four,"})
CONTINUE_INSTRUCTION = "\n\n(Begin your reply with exactly these words, then carry on: {prefix})"
OPTION_INSTRUCTION = "\n\n(Your reply begins: \"{prefix}\". Reply with only what comes next, one of: {keys}.)"


class OpenAIGenerator:
    def __init__(self, endpoint: Endpoint, *, template_dir: Path | None = None, concurrency: int = 8,
                 timeout: float = 120.0, max_retries: int = 4, backoff: float = 0.5):
        """``template_dir``: the tokenizer directory of ``endpoint.template`` (``load_generator`` resolves it)."""
        self.endpoint, self.model = endpoint, endpoint.model
        self.name = f"openai:{endpoint.label}#{endpoint.model}"
        self.headers = {"Authorization": f"Bearer {endpoint.api_key()}"}
        self.concurrency, self.timeout = concurrency, timeout
        self.pool = EndpointPool(endpoint.urls, max_retries=max_retries, backoff=backoff)
        self._mode = None if endpoint.continuation == "auto" else endpoint.continuation
        self.template_dir, self._template = template_dir, None
        self._lock = threading.Lock()

    # -- transport -------------------------------------------------------------------------------
    async def _gather(self, requests: list[tuple[str, dict]]) -> list[dict]:
        sem = asyncio.Semaphore(self.concurrency * len(self.endpoint.urls))

        async def one(client, path, body):
            async with sem:
                return await self.pool.post(client, path, body)

        async with httpx.AsyncClient(timeout=self.timeout, headers=self.headers) as client:
            return await asyncio.gather(*(one(client, p, b) for p, b in requests))

    def _run(self, requests: list[tuple[str, dict]]) -> list[dict]:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._gather(requests))
        # called from inside an event loop (e.g. a FastAPI handler): use a private loop in a thread
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            return ex.submit(asyncio.run, self._gather(requests)).result()

    # -- how partial turns are sent --------------------------------------------------------------
    @property
    def continuation(self) -> str:
        """The endpoint's continuation mode; ``auto`` is resolved by one probe request, reported on the console."""
        with self._lock:
            if self._mode is None:
                self._mode = self._probe()
            return self._mode

    def _probe(self) -> str:
        from constitutional.core.ui import console

        try:
            (resp,) = self._run([self._chat(list(PROBE), {"max_tokens": 4, "temperature": 0.0})])
            reply = resp["choices"][0]["message"].get("content") or ""
        except EndpointError as e:  # e.g. 400 "unknown parameter continue_final_message"
            reply = f"<refused: HTTP {e.status}>"
        if reply.strip().lower().startswith("five"):
            mode = "chat"
        else:
            mode = "completions" if self.endpoint.template else "instruct"
        console.print(f"endpoint {self.endpoint.label}: partial assistant turns go by continuation={mode} (probe: "
                      f"'one, two, three, four,' continued as {reply[:40]!r}); set ?continuation= in the spec to "
                      "choose")
        return mode

    def _chat(self, conv: list, extra: dict) -> tuple[str, dict]:
        body = {"model": self.model, "messages": conv, **extra}
        if conv[-1]["role"] == "assistant":
            body.update(continue_final_message=True, add_generation_prompt=False)
        return "/chat/completions", body

    def render(self, conv: Conversation) -> str:
        """The prompt text for ``/completions``: ``template``'s chat template, ready for the assistant's turn or
        continuing a final assistant prefix (exactly what the transformers backend tokenizes)."""
        if self._template is None:
            if self.template_dir is None:
                raise ConstitutionalError("continuation=completions needs the served model's chat template",
                                          field="model", hint="add template=SPEC to the endpoint spec")
            self._template = load_tokenizer(self.template_dir, False)
        cont = conv[-1]["role"] == "assistant"
        return self._template.apply_chat_template(list(conv), tokenize=False, add_generation_prompt=not cont,
                                                  continue_final_message=cont)

    def _request(self, conv: Conversation, extra: dict,
                 options: Sequence[str] = ()) -> tuple[tuple[str, dict], Callable[[dict], str], list[str]]:
        """(path, body) for one conversation, how to read the reply's text out of the response, and the
        option strings to look for among the first token's alternatives."""
        conv, options = list(conv), list(options)
        if conv[-1]["role"] != "assistant" or self.continuation == "chat":
            return self._chat(conv, extra), _chat_text, options
        if self.continuation == "completions":
            body = {"model": self.model, "prompt": self.render(conv), **extra}
            if "logprobs" in body:  # the legacy completions API: an integer, not a flag plus top_logprobs
                body["logprobs"] = body.pop("top_logprobs")
            return ("/completions", body), _completion_text, options
        prefix = conv[-1]["content"]
        keys = option_keys(options)
        ask = (OPTION_INSTRUCTION.format(prefix=prefix, keys=" or ".join(keys)) if options
               else CONTINUE_INSTRUCTION.format(prefix=prefix))
        return (self._chat(_with_instruction(conv[:-1], ask), extra),
                lambda r: _strip_prefix(_chat_text(r), prefix), keys)

    # -- protocol --------------------------------------------------------------------------------
    def generate(self, conversations: Sequence[Conversation], params: SamplingParams) -> list[str]:
        return [text for text, _ in self.generate_with_usage(conversations, params)]

    def generate_with_usage(self, conversations: Sequence[Conversation],
                            params: SamplingParams) -> list[tuple[str, int | None]]:
        """``generate``, plus each reply's completion tokens as the server counted them
        (None when it reports no ``usage``): the evaluation's tokens per response."""
        extra = {"max_tokens": params.max_new_tokens, "temperature": params.temperature, "top_p": params.top_p,
                 "seed": params.seed, **({"stop": list(params.stop)} if params.stop else {})}
        reqs = [self._request(c, extra) for c in conversations]
        out = []
        for resp, (_, read, _) in zip(self._run([r[0] for r in reqs]), reqs):
            tokens = (resp.get("usage") or {}).get("completion_tokens")
            out.append((truncate_at_stop(read(resp), params.stop).strip(), tokens if isinstance(tokens, int) else None))
        return out

    def option_probs(self, conversations: Sequence[Conversation], options: Sequence[str]) -> list[list[float]]:
        extra = {"max_tokens": 1, "temperature": 0.0, "logprobs": True, "top_logprobs": TOP_LOGPROBS}
        reqs = [self._request(c, extra, options) for c in conversations]
        out = []
        for resp, ((path, _), _, keys) in zip(self._run([r[0] for r in reqs]), reqs):
            top = _top_logprobs(resp, path, self.endpoint.label)
            out.append(normalize_logprobs([_option_logprob(k, top) for k in keys]))
        return out


def _chat_text(resp: dict) -> str:
    return resp["choices"][0]["message"].get("content") or ""


def _completion_text(resp: dict) -> str:
    return resp["choices"][0].get("text") or ""


def _top_logprobs(resp: dict, path: str, label: str) -> list[dict]:
    """The first generated token's alternatives as ``[{"token", "logprob"}]``, from either API's shape."""
    lp = resp["choices"][0].get("logprobs") or {}
    if path == "/completions":  # {"top_logprobs": [{token: logprob, ...}, ...]}
        first = (lp.get("top_logprobs") or [None])[0]
        top = [{"token": t, "logprob": v} for t, v in (first or {}).items()]
    else:  # {"content": [{"token", "logprob", "top_logprobs": [...]}, ...]}
        content = lp.get("content") or []
        top = (content[0].get("top_logprobs") or []) if content else []
    if not top:
        raise ConstitutionalError(
            f"endpoint {label} returned no logprobs", field="model",
            hint="judging needs a server that returns top logprobs (vLLM, llama.cpp server with logits_all, OpenAI)",
        )
    return top


def _with_instruction(conv: list, text: str) -> list:
    """``conv`` with ``text`` appended to its last user turn (or a new user turn if it has none)."""
    for i in range(len(conv) - 1, -1, -1):
        if conv[i]["role"] == "user":
            return [*conv[:i], {**conv[i], "content": conv[i]["content"] + text}, *conv[i + 1 :]]
    return [*conv, {"role": "user", "content": text.strip()}]


def _strip_prefix(text: str, prefix: str) -> str:
    """A new turn that was told to begin with ``prefix``: its continuation after it (whitespace-insensitive).
    ``("I can't, because it could harm.", "I can't, because") -> " it could harm."``"""
    want = "".join(prefix.split()).lower()
    seen = 0
    for i, ch in enumerate(text):
        if not ch.isspace():
            if seen == len(want) or ch.lower() != want[seen]:
                break
            seen += 1
        if seen == len(want):
            return text[i + 1 :]
    return text


def option_keys(options: Sequence[str]) -> list[str]:
    """What distinguishes the options, for a question asked in a new turn: trimmed, common prefix removed.
    ``["(A)", "(B)"] -> ["A)", "B)"]``; ``[" Yes", " No"] -> ["Yes", "No"]``"""
    trimmed = [o.strip() for o in options]
    n = 0
    while trimmed and all(len(o) > n + 1 and o[n] == trimmed[0][n] for o in trimmed):
        n += 1
    return [o[n:] for o in trimmed]


def _option_logprob(option: str, top: list[dict]) -> float:
    """log of the total probability of top tokens that begin ``option``
    (ignoring leading whitespace). ``("(A)", [{"token": "(", ...}])`` matches."""
    target = option.lstrip()
    mass = sum(math.exp(t["logprob"]) for t in top
               if t["token"].strip() and target.startswith(t["token"].lstrip()))
    return math.log(mass) if mass > 0 else -math.inf
