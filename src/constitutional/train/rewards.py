"""The reward seam of RL: a registry of reward functions by name.

A reward function follows TRL's contract for GRPO/RLOO: called with
``prompts`` and ``completions`` (conversational: lists of messages) plus
keyword extras, it returns one float per completion. A factory builds one
from the run (``factory(cfg, run) -> RewardFunction``), so a reward can load
the run's own preference model, rules or cost model.

Registered here: ``preference_model``, the run's trained preference model
(RL-CAI, and RLHF when its labels are human), and ``rbr``, rule-based
rewards: a reward model's score plus the weighted rule propositions, with the
weights the ``rbr`` stage fitted. Safe RLHF's reward minus lambda times cost
(``SafeReward``) is built by its own stage, since lambda lives in the run.
Another reward registers itself with ``@register("name")`` and is picked by
``rl.reward``.
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


def reward_model_path(cfg, run, override: str | None, required: bool) -> Path | None:
    """A reward model's checkpoint: ``override`` (a spec or path), else this run's reward stage's model."""
    from constitutional.models import local_path

    if override:
        return local_path(override)
    path = run.root / "reward" / "model"
    if (path / "config.json").is_file():
        return path
    if required:
        raise ConstitutionalError("no reward model in this run", file=path,
                                  hint="run the reward stage first, or point the setting at a reward model")
    return None


class RuleBasedReward:
    """RBR: ``reward model score + w_category . P(propositions)`` per completion. The category of each prompt
    comes from the run's constitution (its classifier), the weights from ``<run>/rbr/weights.json``."""

    __name__ = "rbr"

    def __init__(self, rules, weights: dict[str, list[float]], grader, decider, base: PreferenceModelReward | None):
        self.rules, self.weights, self.grader, self.decider, self.base = rules, weights, grader, decider, base
        self.last: dict[str, float] = {}
        self.ai_labels = 0  # proposition grades a model made (what the comparison counts as AI labels)

    def categories(self, prompts: Sequence[str]) -> list[str]:
        return [self.rules.category(d.restricted, d.principle).name for d in self.decider.decide(list(prompts))]

    def __call__(self, prompts, completions, **kwargs) -> list[float]:
        texts, replies = [_text(p) for p in prompts], [_text(c) for c in completions]
        base = self.base(prompts, completions) if self.base else [0.0] * len(replies)
        feats = self.grader.features(texts, replies)
        self.ai_labels += len(replies) * sum(p.grader == "model" for p in self.rules.propositions)
        cats = self.categories(texts)
        rules = [sum(w * f for w, f in zip(self.weights[c], phi)) for c, phi in zip(cats, feats)]
        self.last = {"base": sum(base) / len(base), "rules": sum(rules) / len(rules)}
        return [b + r for b, r in zip(base, rules)]


@register("rbr")
def _rbr(cfg, run) -> RewardFunction:
    import json

    from constitutional.decision import classifier_for
    from constitutional.feedback.propositions import PropositionGrader, load_rules
    from constitutional.models.cached import cached_model
    from constitutional.refusal import default_classifier

    path = run.root / "rbr" / "weights.json"
    if not path.is_file():
        raise ConstitutionalError("no fitted rule weights in this run", file=path,
                                  hint="run the rbr stage first (constitutional rbr CONFIG)")
    fitted = json.loads(path.read_text(encoding="utf-8"))
    rules = load_rules(cfg.rbr.rules)
    if fitted["propositions"] != rules.names:
        raise ConstitutionalError("the rule set changed since its weights were fitted", file=path,
                                  hint="rerun the rbr stage")
    grader = PropositionGrader(rules, cached_model(cfg, run, cfg.rbr.grader or cfg.model), default_classifier())
    base = reward_model_path(cfg, run, cfg.rbr.reward_model, required=False)
    decider = classifier_for(cfg.constitution, cfg.decision.threshold, cfg.decision.c)
    return RuleBasedReward(rules, fitted["weights"], grader, decider,
                           PreferenceModelReward(base, cfg.trust_remote_code) if base else None)


class SafeReward:
    """Safe RLHF's reward for one RL step: ``reward - lambda * cost``, lambda from a ``Lagrangian`` updated with
    the batch's mean cost. Each call is one optimizer step's batch (TRL scores a whole step's generations at once
    when gradient accumulation is 1, as the RL settings fix it)."""

    __name__ = "safe_rlhf"

    def __init__(self, reward: PreferenceModelReward, cost: PreferenceModelReward, lagrangian):
        self.reward, self.cost, self.lagrangian = reward, cost, lagrangian
        self.last: dict[str, float] = {}

    def __call__(self, prompts, completions, **kwargs) -> list[float]:
        r, c = self.reward(prompts, completions), self.cost(prompts, completions)
        mean_cost = sum(c) / len(c)
        lam = self.lagrangian.step(mean_cost)
        self.last = {"lambda": lam, "mean_cost": mean_cost, "mean_reward_model": sum(r) / len(r)}
        return [ri - lam * ci for ri, ci in zip(r, c)]


def refusal_monitor(prompts, completions, **kwargs) -> list[float]:
    """1.0 for a completion that reads as a refusal. RL runs it with weight 0,
    so it only shows up in the logs as the refusal rate over steps."""
    return [float(looks_like_refusal(_text(p), _text(c))) for p, c in zip(prompts, completions)]


refusal_monitor.__name__ = "refusal"
