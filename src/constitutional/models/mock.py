"""A scripted model for tests and dry runs, in the spirit of inspect_ai's ``mockllm``.

``mock:NAME`` is a Generator whose replies and option probabilities come
from a ``MockScript``: registered in-process with ``register_mock(NAME,
script)``, or read from a YAML/JSON file when ``NAME`` is a path
(``mock:script.yaml`` with the same fields). Stages get it through the spec
like any model, so a test exercises the real stage code, cache and records.

- A reply is the first rule whose regex matches the conversation's last
  message; otherwise one of ``replies``, picked by a hash of the
  conversation and the seed, so the same prompt and seed always give the
  same reply whatever the batch, and another seed usually another one.
- Option probabilities: the first ``probs`` rule whose regex matches the
  conversation's text, else uniform.
- ``fail_after_calls`` raises ``KeyboardInterrupt`` on the call after that
  many, like a process killed mid-stage; the counters say what was asked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from constitutional.core.errors import ConstitutionalError
from constitutional.core.seeding import seed_for
from constitutional.models.base import Conversation, SamplingParams, truncate_at_stop


@dataclass
class MockScript:
    replies: list[str] = field(default_factory=lambda: ["This is a mock reply."])
    rules: list[tuple[str, str]] = field(default_factory=list)  # (regex on the last message, reply)
    probs: list[tuple[str, list[float]]] = field(default_factory=list)  # (regex on the conversation, probabilities)
    fail_after_calls: int | None = None


class MockGenerator:
    def __init__(self, name: str, script: MockScript):
        self.name, self.script = f"mock:{name}", script
        self.calls = self.generated = self.scored = 0

    def _call(self, n: int) -> None:
        if self.script.fail_after_calls is not None and self.calls >= self.script.fail_after_calls:
            raise KeyboardInterrupt(f"{self.name}: simulated kill after {self.calls} calls")
        self.calls += 1

    def reply(self, conv: Conversation, seed: int) -> str:
        last = conv[-1]["content"]
        for pattern, reply in self.script.rules:
            if re.search(pattern, last):
                return reply
        return self.script.replies[seed_for(seed, [dict(m) for m in conv]) % len(self.script.replies)]

    def generate(self, conversations: Sequence[Conversation], params: SamplingParams) -> list[str]:
        self._call(len(conversations))
        self.generated += len(conversations)
        return [truncate_at_stop(self.reply(c, params.seed), params.stop).strip() for c in conversations]

    def option_probs(self, conversations: Sequence[Conversation], options: Sequence[str]) -> list[list[float]]:
        self._call(len(conversations))
        self.scored += len(conversations)
        out = []
        for conv in conversations:
            text = "\n".join(m["content"] for m in conv)
            probs = next((p for pattern, p in self.script.probs if re.search(pattern, text)), None)
            if probs is None or len(probs) != len(options):
                probs = [1.0] * len(options)
            total = sum(probs)
            out.append([p / total for p in probs])
        return out


_REGISTERED: dict[str, MockGenerator] = {}


def register_mock(name: str, script: MockScript | None = None) -> MockGenerator:
    """Make ``mock:NAME`` answer from ``script`` (a fresh generator, fresh counters)."""
    _REGISTERED[name] = gen = MockGenerator(name, script or MockScript())
    return gen


def load_mock(name: str) -> MockGenerator:
    if name in _REGISTERED:
        return _REGISTERED[name]
    path = Path(name)
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        try:
            script = MockScript(**(data or {}))
        except TypeError as e:
            raise ConstitutionalError(f"not a mock script: {e}", file=path,
                                      hint="fields: replies, rules, probs, fail_after_calls") from None
        return register_mock(name, script)
    raise ConstitutionalError(f"no mock model named '{name}'", field="model",
                              hint="register it with models.mock.register_mock, or pass a script file: mock:script.yaml")
