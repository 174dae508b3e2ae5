"""The one model protocol every stage, the evaluation and the guard use.

A ``Generator`` does two things:
- ``generate``: chat completions for a batch of conversations;
- ``option_probs``: the normalized probabilities of given continuations after
  a conversation (what an AI-feedback judge needs: P("(A)") vs P("(B)")).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Protocol, runtime_checkable

Message = dict[str, str]
Conversation = Sequence[Message]


@dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int = 128
    temperature: float = 0.7  # 0 means greedy
    top_p: float = 0.95
    seed: int = 0
    stop: tuple[str, ...] = ()
    repetition_penalty: float = 1.0  # local backends only; 1.0 = off

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stop"] = list(self.stop)
        return d


@runtime_checkable
class Generator(Protocol):
    #: identifies the model in records and cache keys (spec string plus anything that changes outputs)
    name: str

    def generate(self, conversations: Sequence[Conversation], params: SamplingParams) -> list[str]:
        """One completion per conversation. Each conversation ends with a user turn;
        if it ends with an assistant turn, that turn is a prefix to continue."""
        ...

    def option_probs(self, conversations: Sequence[Conversation], options: Sequence[str]) -> list[list[float]]:
        """For each conversation, P(option | conversation) over ``options``,
        renormalized to sum to 1."""
        ...


def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    """Cut ``text`` at the first stop string. ``("ab. Q: x", ["Q:"]) -> "ab. "``"""
    cut = len(text)
    for s in stop:
        i = text.find(s)
        if i != -1:
            cut = min(cut, i)
    return text[:cut]
