"""The six methods of the comparison, each a run derived from one config.

| method | stages | labels |
|---|---|---|
| cai | the config's own pipeline (its training stages) | AI: the constitution's decisions and feedback |
| rlhf | pairs (human) -> feedback -> reward -> rl | human preference pairs |
| rbr | rbr -> rl (reward: rbr, on RLHF's reward model) | human-labeled replies, AI proposition grades |
| dpo | pairs (human) -> feedback -> dpo | human preference pairs |
| safe_rlhf | pairs (human) -> feedback -> safe_rlhf (on RLHF's reward model) | human pairs with safety flags |
| self_critique | none: ``refine:MODEL`` at inference | none |

Every method starts from ``cfg.model`` and shares every other setting (RL
steps, epochs, prompt sets), so the budget is the same. Where RLHF is among
the methods, RBR and Safe RLHF reuse its reward model rather than train the
same one again; without it they train their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from constitutional.core.config import RunConfig

EVAL_ONLY = ("before_after", "generate", "eval")  # not part of a method's training
DATA_STAGES = ("sl_cai", "distill", "pairs", "feedback", "rbr")  # stages that make data or labels
HUMAN_PAIRS = {"pairs.strategy": "human", "pairs.helpful_source": "none"}


@dataclass(frozen=True)
class Method:
    name: str
    title: str
    stages: tuple[str, ...]
    overrides: dict = field(default_factory=dict)
    reads_constitution: bool = False  # its behavior follows the constitution's classifier (its examples count)

    def run_name(self, cfg: RunConfig) -> str:
        return f"{cfg.name}-{self.name}"

    def config(self, cfg: RunConfig) -> RunConfig:
        data = cfg.model_dump(mode="json")
        data.update(name=self.run_name(cfg), stages=list(self.stages))
        for dotted, value in self.overrides.items():
            node = data
            *parents, leaf = dotted.split(".")
            for k in parents:
                node = node[k]
            node[leaf] = value
        return RunConfig.model_validate(data)


def methods(cfg: RunConfig) -> list[Method]:
    """The methods ``cfg.compare.methods`` names, in that order (RLHF first when present: others reuse it)."""
    names = sorted(cfg.compare.methods, key=lambda m: m != "rlhf")
    rlhf_rm = f"hf:{cfg.run_dir.parent / f'{cfg.name}-rlhf' / 'reward' / 'model'}" if "rlhf" in names else None
    own_rm = () if rlhf_rm else ("pairs", "feedback", "reward")
    catalog = {
        "cai": Method("cai", "Constitutional AI", tuple(s for s in cfg.stages if s not in EVAL_ONLY),
                      reads_constitution=True),
        "rlhf": Method("rlhf", "RLHF", ("pairs", "feedback", "reward", "rl"),
                       {**HUMAN_PAIRS, "rl.reward": "preference_model"}),
        "rbr": Method("rbr", "Rule-based rewards", (*own_rm, "rbr", "rl"),
                      {**HUMAN_PAIRS, "rl.reward": "rbr", "rbr.reward_model": rlhf_rm}, reads_constitution=True),
        "dpo": Method("dpo", "DPO", ("pairs", "feedback", "dpo"), HUMAN_PAIRS),
        "safe_rlhf": Method("safe_rlhf", "Safe RLHF",
                            ("pairs", "feedback", *(("reward",) if not rlhf_rm else ()), "safe_rlhf"),
                            {**HUMAN_PAIRS, "safe_rlhf.reward_model": rlhf_rm}),
        "self_critique": Method("self_critique", "Self-Critique", (), reads_constitution=True),
    }
    return [catalog[n] for n in names]


def refine_spec(cfg: RunConfig) -> str:
    """Self-Critique's model: the base model inside the draft-critique-revise loop, under the run's constitution."""
    return f"refine:{cfg.model}?rounds={cfg.compare.refine_rounds}&constitution={cfg.constitution}"
