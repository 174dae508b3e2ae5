"""The files stages leave for each other: their schemas, where they live, and
the readers later stages use. Stages talk only through these files, so this
is the one module a stage imports besides the layers below ``stages``.

| stage | file | schema |
|---|---|---|
| sl_cai | ``sl_cai/records.jsonl`` | ``constitutional.sl_cai/1`` |
| distill | ``distill/records.jsonl`` | ``constitutional.distill/2`` |
| sft | ``sft/helpful.jsonl``, ``sft/model/`` | ``constitutional.helpful/1`` |
| pairs | ``pairs/pairs.jsonl`` | ``constitutional.pairs/1`` |
| feedback | ``feedback/labels.jsonl`` | ``constitutional.labels/1`` |
| reward, rl, safe_rlhf, dpo | ``<stage>/model/`` | a transformers checkpoint |
| rbr | ``rbr/weights.json`` | ``constitutional.rbr-weights/1`` |
| safe_rlhf | ``safe_rlhf/cost_model/`` | a transformers checkpoint |
| generate | ``generate/records.jsonl`` | ``constitutional.generate/1`` |
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from constitutional.constitution import load_constitution, packaged_names, resolve
from constitutional.core.config import RunConfig
from constitutional.core.dist import DISTRIBUTED_STAGES, barrier, world_size
from constitutional.core.errors import ConstitutionalError
from constitutional.core.runs import RecordStore, RunDir, file_hash, open_run, tree_hash
from constitutional.feedback.propositions import packaged_rules
from constitutional.labeled import FIELDS, labeled_path
from constitutional.prompts import PACKAGED, PREFERENCE_SETS, packaged_path

SL_CAI_SCHEMA = "constitutional.sl_cai/1"
DISTILL_SCHEMA = "constitutional.distill/2"
HELPFUL_SCHEMA = "constitutional.helpful/1"
PAIRS_SCHEMA = "constitutional.pairs/1"
LABELS_SCHEMA = "constitutional.labels/1"
GENERATE_SCHEMA = "constitutional.generate/1"
POLICY_STAGES = ("sft", "rl", "safe_rlhf", "dpo")  # stages that leave a tuned policy in <run>/<stage>/model


# -- models the stages leave ----------------------------------------------------------------------
def model_dir(run: RunDir, stage: str):
    return run.root / stage / "model"


def has_model(run: RunDir, stage: str) -> bool:
    return (model_dir(run, stage) / "config.json").is_file()


def policy_spec(cfg: RunConfig, run: RunDir, override: str | None = None) -> str:
    """The model later stages start from: ``override``, else this run's SFT
    checkpoint when one was trained, else the run's model."""
    if override:
        return override
    return f"hf:{model_dir(run, 'sft')}" if has_model(run, "sft") else cfg.model


def final_model(run: RunDir) -> str | None:
    """The last tuned model of the run (RL, else Safe RLHF, else DPO, else SFT), as a spec."""
    return next((f"hf:{model_dir(run, s)}" for s in ("rl", "safe_rlhf", "dpo", "sft") if has_model(run, s)), None)


# -- what each stage reads: a rerun recomputes a stage when any of it changed ----------------------
UPSTREAM = {"sl_cai": (), "distill": (), "sft": ("sl_cai", "distill"), "pairs": ("sl_cai", "distill", "sft"),
            "feedback": ("pairs",), "reward": ("feedback", "sft"), "rbr": ("reward", "sft"),
            "rl": ("reward", "rbr", "sft"), "safe_rlhf": ("feedback", "reward", "sft"), "dpo": ("feedback", "sft"),
            "before_after": POLICY_STAGES, "generate": (), "eval": POLICY_STAGES}
SECTIONS = {"distill": ("distill", "decision"), "sft": ("sft", "train"), "feedback": ("feedback", "decision"),
            "reward": ("reward", "train"), "rbr": ("rbr", "decision"), "rl": ("rl", "train"),
            "safe_rlhf": ("safe_rlhf", "rl", "reward", "train"), "dpo": ("dpo", "train"),
            "eval": ("eval", "feedback", "decision")}
READS_CONSTITUTION = ("sl_cai", "distill", "feedback", "rbr", "rl", "eval")
GLOBAL_SETTINGS = ("model", "seed", "dtype", "trust_remote_code", "constitution")


def _strings(value) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def _input_hash(value: str) -> tuple[str, str] | None:
    try:
        return _named_input(value)
    except (OSError, ValueError):  # a setting's text that cannot be a path (too long, a NUL byte): not a file
        return None


def _named_input(value: str) -> tuple[str, str] | None:
    """(input name, content hash) for a setting that names a file, a packaged set or a local checkpoint."""
    if value in PACKAGED or value in PREFERENCE_SETS:
        return f"prompts:{value}", file_hash(packaged_path(value))
    if value.startswith("hf:") and Path(value[3:]).is_dir():
        return f"model:{value}", tree_hash(Path(value[3:]))
    if value in packaged_names():
        return f"constitution:{value}", file_hash(resolve(value))
    if value in FIELDS and not Path(value).is_file():
        return f"labeled:{value}", file_hash(labeled_path(value))
    if packaged_rules(value).is_file() and not Path(value).is_file():
        return f"rules:{value}", file_hash(packaged_rules(value))
    if value and Path(value).is_file():
        return f"file:{value}", file_hash(Path(value))
    if value and Path(value).is_dir() and (Path(value) / "config.json").is_file():
        return f"model:{value}", tree_hash(Path(value))
    return None


def stage_inputs(cfg: RunConfig, run: RunDir, stage: str) -> dict[str, str]:
    """A hash per input of ``stage``: its settings, the constitution it reads (by content), every file,
    packaged set and local checkpoint its settings name (by content), and its upstream stages' outputs."""
    dumped = cfg.model_dump(mode="json")
    settings = {k: dumped[k] for k in GLOBAL_SETTINGS}
    settings.update({s: dumped[s] for s in SECTIONS.get(stage, (stage,))})
    if stage == "rl" and cfg.rl.reward == "rbr":  # the rule reward reads the rules and the constitution's decision
        settings.update({s: dumped[s] for s in ("rbr", "decision")})
    inputs = {"settings": hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]}
    if stage in READS_CONSTITUTION:
        inputs["constitution"] = file_hash(resolve(cfg.constitution_for(stage)))[:16]
    for value in _strings(settings):
        found = _input_hash(value)
        if found:
            inputs[found[0]] = found[1][:16]
    for dep in UPSTREAM[stage]:
        if (out := run.outputs(dep)) is not None:
            inputs[f"upstream:{dep}"] = out
    return inputs


def begin_stage(cfg: RunConfig, stage: str) -> tuple[RunDir, dict | None]:
    """Open the run for ``stage``: (the run, the stored summary if the stage is done with the same inputs, else
    None). A stage whose inputs changed is cleared here, so it never serves stale results."""
    run = open_run(cfg, stage)
    done = run.begin(stage, stage_inputs(cfg, run, stage))
    barrier()  # under accelerate launch: every process starts once the main one has cleared and recorded
    return run, done


# -- SL-CAI records -------------------------------------------------------------------------------
def sl_cai_store(run: RunDir) -> RecordStore:
    return RecordStore(run.root / "sl_cai" / "records.jsonl", SL_CAI_SCHEMA)


def revision_examples(records: Iterable[dict], rounds: str = "final", drop_flagged: bool = True) -> list[dict]:
    """Prompt/completion examples from SL-CAI records: the final revision, or
    every round's; flagged revisions dropped unless ``drop_flagged`` is off."""
    out = []
    for rec in records:
        chosen = rec["rounds"][-1:] if rounds == "final" else rec["rounds"]
        for r in chosen:
            if drop_flagged and r["flags"]:
                continue
            out.append({"id": f"{rec['id']}/r{r['round']}", "prompt": rec["messages"],
                        "completion": [{"role": "assistant", "content": r["revision"]}],
                        "original": rec["response"]})
    return out


# -- distill records ------------------------------------------------------------------------------
def distill_store(run: RunDir) -> RecordStore:
    return RecordStore(run.root / "distill" / "records.jsonl", DISTILL_SCHEMA)


def kept_targets(records: Iterable[dict]) -> Iterator[tuple[dict, str]]:
    """(record, its kept candidate) for every record with a target; the one place
    that reads the ``chosen`` index."""
    for r in records:
        if r["chosen"] is not None:
            yield r, r["candidates"][r["chosen"]]


def distill_examples(run: RunDir) -> list[dict]:
    """SFT prompt/completion examples from the distill stage's kept targets
    (bare prompts: no system prompt, no demonstrations)."""
    return [{"id": r["id"], "kind": r["kind"], "prompt": r["messages"],
             "completion": [{"role": "assistant", "content": target}]}
            for r, target in kept_targets(distill_store(run))]


# -- preference pairs and their labels ------------------------------------------------------------
def pairs_store(run: RunDir) -> RecordStore:
    return RecordStore(run.root / "pairs" / "pairs.jsonl", PAIRS_SCHEMA)


def labels_store(run: RunDir) -> RecordStore:
    return RecordStore(run.root / "feedback" / "labels.jsonl", LABELS_SCHEMA)


def load_labels(run: RunDir) -> list[dict]:
    """The run's labeled preference pairs (the feedback stage's output)."""
    store = labels_store(run)
    labels = list(store)
    if not labels:
        raise ConstitutionalError("no labeled pairs", file=store.path, hint="run the pairs and feedback stages first")
    return labels


# -- before any stage runs ------------------------------------------------------------------------
CONSTITUTION_SOURCE = "constitution"  # a distill.prompts entry: the run's constitution's own example requests


def _source_fields(section: str, values: dict) -> Iterator[tuple[str, str]]:
    """(dotted field, value) of every setting that names a prompt set, few-shot file or template file."""
    for key, value in values.items():
        if key.endswith(("prompts", "_sets")) or key in ("fewshot", "jailbreaks", "human_preferences"):
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, str):
                    yield f"{section}.{key}", v


def _check_distributed(cfg: RunConfig, stages: list[str]) -> None:
    """Under ``accelerate launch``: only the trainer stages run in several processes, each stage on its own."""
    other = [s for s in stages if s not in DISTRIBUTED_STAGES]
    if other or len(stages) != 1:
        raise ConstitutionalError(f"{', '.join(other or stages)} cannot run under accelerate launch "
                                  f"({world_size()} processes)", field="stages",
                                  hint=f"launch one trainer stage at a time ({', '.join(DISTRIBUTED_STAGES)}), e.g. "
                                       "accelerate launch ... $(which constitutional) sft CONFIG; run the others "
                                       "as plain commands")
    lora = {"sft": cfg.sft.lora, "dpo": cfg.dpo.lora}[stages[0]]
    if lora:
        raise ConstitutionalError("LoRA training is single-process for now", field=f"{stages[0]}.lora",
                                  hint=f"set --{stages[0]}.lora=false to train with accelerate launch")


def preflight(cfg: RunConfig, stages: Iterable[str]) -> None:
    """Check, before any work, what the stages will read: every prompt set a setting names is packaged or a
    file that exists, each constitution and rule set loads, and RL's reward is registered. A typo fails now, not
    hours in."""
    stages = list(stages)
    if world_size() > 1:
        _check_distributed(cfg, stages)
    defaults = RunConfig().model_dump(mode="json")
    dumped = cfg.model_dump(mode="json")
    packaged = set(PACKAGED) | {v for s, vals in defaults.items() if isinstance(vals, dict)
                                for _, v in _source_fields(s, vals)}
    for stage in stages:
        for section in SECTIONS.get(stage, (stage,)):
            for field, value in _source_fields(section, dumped.get(section) or {}):
                if field == "distill.prompts" and value == CONSTITUTION_SOURCE:
                    continue
                if value not in packaged and not Path(value).exists():
                    raise ConstitutionalError(f"'{value}' is neither a packaged set nor a file that exists",
                                              field=field,
                                              hint=f"packaged sets: {', '.join(PACKAGED)}; or give a path"
                                              + ("; or `constitution` (its own examples)" if field == "distill.prompts"
                                                 else ""))
        if stage in READS_CONSTITUTION:
            load_constitution(cfg.constitution_for(stage))
    if "feedback" in stages:
        load_constitution(cfg.feedback.helpful_constitution)
    if "rbr" in stages or ("rl" in stages and cfg.rl.reward == "rbr"):
        from constitutional.feedback.propositions import load_rules

        load_rules(cfg.rbr.rules)
    if "rl" in stages:
        from constitutional.train.rewards import REWARDS

        if cfg.rl.reward not in REWARDS:
            raise ConstitutionalError(f"unknown reward '{cfg.rl.reward}'", field="rl.reward",
                                      hint=f"registered rewards: {', '.join(sorted(REWARDS))}")
