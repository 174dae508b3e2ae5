"""The reward seam of RL: a registry of reward functions by name.

A reward function follows TRL's contract for GRPO/RLOO: called with
``prompts`` and ``completions`` (conversational: lists of messages) plus
keyword extras, it returns one float per completion. A factory builds one
from the run (``factory(cfg, run) -> RewardFunction``), so a reward can load
the run's own preference model, rules or cost model.

``preference_model`` is the one registered here: the run's trained
preference model (RL-CAI, and RLHF when its labels are human). Another reward
registers itself with ``@register("name")`` and is picked by ``rl.reward``.
``refusal_monitor`` runs beside it with weight 0, so the refusal rate shows in
the RL logs. The preference model's loading and scoring live here too: the
reward stage measures it with ``score``, RL optimizes against it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from constitutional.core.errors import ConstitutionalError
from constitutional.models.hf import load_tokenizer
from constitutional.refusal import looks_like_refusal


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


def load_reward_model(path: str | Path, trust_remote_code: bool = False):
    """(model, tokenizer) of a sequence-classification checkpoint with a pad token set."""
    import torch
    from transformers import AutoModelForSequenceClassification

    tok = load_tokenizer(Path(path), trust_remote_code)
    model = AutoModelForSequenceClassification.from_pretrained(str(path), num_labels=1, dtype=torch.float32,
                                                               trust_remote_code=trust_remote_code)
    model.config.pad_token_id = tok.pad_token_id
    return model.eval(), tok


def score(model, tokenizer, conversations: list[list[dict]], batch_size: int = 8) -> list[float]:
    """Rewards of full conversations (prompt + reply), rendered as in training."""
    import torch

    out: list[float] = []
    for i in range(0, len(conversations), batch_size):
        ids = [tokenizer.apply_chat_template(c, tokenize=True, return_dict=True)["input_ids"]
               for c in conversations[i : i + batch_size]]
        width = max(len(x) for x in ids)
        input_ids = torch.full((len(ids), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(input_ids)
        for row, x in enumerate(ids):
            input_ids[row, : len(x)] = torch.tensor(x)
            mask[row, : len(x)] = 1
        with torch.inference_mode():
            logits = model(input_ids=input_ids.to(model.device), attention_mask=mask.to(model.device)).logits
        out += logits[:, 0].float().tolist()
    return out


def _text(completion) -> str:
    return completion[-1]["content"] if isinstance(completion, list) else str(completion)


class PreferenceModelReward:
    """Scores prompt + completion with a sequence-classification preference model."""

    __name__ = "preference_model"

    def __init__(self, path, trust_remote_code: bool = False, batch_size: int = 8):
        self.model, self.tokenizer = load_reward_model(path, trust_remote_code)
        self.batch_size = batch_size

    def __call__(self, prompts, completions, **kwargs) -> list[float]:
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
    return [float(looks_like_refusal(_text(p), _text(c))) for p, c in zip(prompts, completions)]


refusal_monitor.__name__ = "refusal"
