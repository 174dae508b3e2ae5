"""The reward seam of RL: a registry of reward functions by name.

A reward function follows TRL's contract for GRPO/RLOO: called with
``prompts`` and ``completions`` (conversational: lists of messages) plus
keyword extras, it returns one float per completion. A factory builds one
from the run (``factory(cfg, run) -> RewardFunction``), so a reward can load
the run's own preference model, rules or cost model.

``preference_model`` is RL-CAI's: the run's trained preference model. The
rule-based reward and Safe RLHF register their own with ``@register``.
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence

from .errors import ConstitutionalError
from .refusal import looks_like_refusal


class RewardFunction(Protocol):
    __name__: str

    def __call__(self, prompts: Sequence, completions: Sequence, **kwargs) -> list[float]: ...


REWARDS: dict[str, Callable] = {}


def register(name: str):
    def deco(factory):
        REWARDS[name] = factory
        return factory

    return deco


def build_reward(name: str, cfg, run) -> RewardFunction:
    if name not in REWARDS:
        raise ConstitutionalError(f"unknown reward '{name}'", field="rl.reward",
                                  hint=f"registered rewards: {', '.join(sorted(REWARDS))}")
    return REWARDS[name](cfg, run)


def _text(completion) -> str:
    return completion[-1]["content"] if isinstance(completion, list) else str(completion)


class PreferenceModelReward:
    """Scores prompt + completion with a sequence-classification preference model."""

    __name__ = "preference_model"

    def __init__(self, path, trust_remote_code: bool = False, batch_size: int = 8):
        from .stages.reward import load_reward_model

        self.model, self.tokenizer = load_reward_model(path, trust_remote_code)
        self.batch_size = batch_size

    def __call__(self, prompts, completions, **kwargs) -> list[float]:
        from .stages.reward import score

        convs = [list(p) + [{"role": "assistant", "content": _text(c)}] for p, c in zip(prompts, completions)]
        return score(self.model, self.tokenizer, convs, self.batch_size)


@register("preference_model")
def _preference_model(cfg, run) -> RewardFunction:
    path = run.root / "reward" / "model"
    if not (path / "config.json").is_file():
        raise ConstitutionalError("no preference model in this run", file=path,
                                  hint="run the reward stage first (constitutional reward CONFIG)")
    return PreferenceModelReward(path, cfg.trust_remote_code)


def refusal_monitor(prompts, completions, **kwargs) -> list[float]:
    """1.0 for a completion that reads as a refusal. RL runs it with weight 0,
    so it only shows up in the logs as the refusal rate over steps."""
    return [float(looks_like_refusal(_text(c))) for c in completions]


refusal_monitor.__name__ = "refusal"
