"""What an endpoint spec says: the servers, the model, and how they differ.

``openai:URL[|URL...]#MODEL[?key=value&...]``

- several URLs joined by ``|`` make a pool (``models.pool``): one model served
  by many servers, requests spread over the healthy ones;
- ``continuation`` says how a conversation that ends in a partial assistant
  turn ("The answer is: (") is continued; servers differ here, and a judge
  that reads the first token of the wrong text is silently at chance:

  - ``auto``: one probe per endpoint decides between the three below, and says so on the console;
  - ``chat``: chat messages plus ``continue_final_message: true, add_generation_prompt: false``
    (vLLM, llama.cpp's ``llama-server``, ``constitutional serve``);
  - ``completions``: ``/completions`` with the prompt rendered by ``template``'s chat template
    (any server with ``/completions``: llama-cpp-python's server, vLLM, TGI);
  - ``instruct``: no partial turn is sent; the prefix becomes an instruction, and options become a
    question whose answer's first token is the option (hosted APIs that never continue a turn);

- ``template``: a local model spec (``smollm2-135m``, ``hf:/path``) whose
  tokenizer's chat template renders prompts for ``completions``; it must be
  the served model's own template;
- ``key_env``: the environment variable holding this endpoint's API key
  (default ``OPENAI_API_KEY``), so three vendors can be calibrated side by side.

``parse_endpoint("openai:http://a/v1|http://b/v1#m?continuation=chat")
-> Endpoint(urls=("http://a/v1", "http://b/v1"), model="m", continuation="chat")``
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import parse_qsl

from constitutional.core.errors import ConstitutionalError

CONTINUATIONS = ("auto", "chat", "completions", "instruct")
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
SPEC_HINT = "write it as openai:http://host:port/v1#model-name[?continuation=auto|chat|completions|instruct" \
            "&template=SPEC&key_env=VAR]; join a pool's URLs with |"


@dataclass(frozen=True)
class Endpoint:
    urls: tuple[str, ...]
    model: str = "default"
    continuation: str = "auto"
    template: str = ""
    key_env: str = DEFAULT_KEY_ENV

    @property
    def label(self) -> str:
        return "|".join(self.urls)

    def api_key(self) -> str:
        """This endpoint's key; a ``key_env`` named in the spec must be set, the default may be unset (local servers)."""
        key = os.environ.get(self.key_env)
        if key is None and self.key_env != DEFAULT_KEY_ENV:
            raise ConstitutionalError(f"the API key variable {self.key_env} is not set", field="model",
                                      hint=f"export {self.key_env}=... (the spec's key_env names it)")
        return key or "none"


def parse_endpoint(spec: str) -> Endpoint:
    """An ``openai:`` spec's parts, checked: bad URLs, unknown options and continuation modes are errors."""
    if not spec.startswith("openai:"):
        raise ConstitutionalError(f"'{spec}' is not an endpoint spec", field="model", hint=SPEC_HINT)
    rest = spec[len("openai:"):]
    urls_part, _, model_part = rest.partition("#")
    model, _, query = model_part.partition("?")
    if not model and "?" in urls_part:  # options written without a model name
        urls_part, _, query = urls_part.partition("?")
    urls = tuple(u.strip().rstrip("/") for u in urls_part.split("|"))
    if not urls or any(not u.startswith(("http://", "https://")) for u in urls):
        raise ConstitutionalError(f"bad endpoint spec '{spec}'", field="model", hint=SPEC_HINT)
    if len(set(urls)) != len(urls):
        raise ConstitutionalError(f"endpoint spec '{spec}' names a URL twice", field="model", hint=SPEC_HINT)
    options = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(options) - {"continuation", "template", "key_env"})
    if unknown:
        raise ConstitutionalError(f"unknown endpoint option(s) {', '.join(unknown)} in '{spec}'", field="model",
                                  hint=SPEC_HINT)
    mode = options.get("continuation", "auto")
    if mode not in CONTINUATIONS:
        raise ConstitutionalError(f"continuation must be one of {', '.join(CONTINUATIONS)}, not '{mode}'",
                                  field="model", hint=SPEC_HINT)
    if mode == "completions" and not options.get("template"):
        raise ConstitutionalError("continuation=completions needs template=SPEC (the served model's chat template)",
                                  field="model", hint="e.g. ...#model?continuation=completions&template=smollm2-135m")
    return Endpoint(urls=urls, model=model or "default", continuation=mode, template=options.get("template", ""),
                    key_env=options.get("key_env") or DEFAULT_KEY_ENV)
