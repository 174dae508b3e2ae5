"""The files stages leave for each other: their schemas, where they live, and
the readers later stages use. Stages talk only through these files, so this
is the one module a stage imports besides the layers below ``stages``.

| stage | file | schema |
|---|---|---|
| sl_cai | ``sl_cai/records.jsonl`` | ``constitutional.sl_cai/1`` |
| distill | ``distill/records.jsonl`` | ``constitutional.distill/1`` |
| sft | ``sft/helpful.jsonl``, ``sft/model/`` | ``constitutional.helpful/1`` |
| pairs | ``pairs/pairs.jsonl`` | ``constitutional.pairs/1`` |
| feedback | ``feedback/labels.jsonl`` | ``constitutional.labels/1`` |
| reward, rl, dpo | ``<stage>/model/`` | a transformers checkpoint |
| generate | ``generate/records.jsonl`` | ``constitutional.generate/1`` |
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from constitutional.core.config import RunConfig
from constitutional.core.errors import ConstitutionalError
from constitutional.core.runs import RecordStore, RunDir
from constitutional.core.ui import console
from constitutional.prompts import PromptRecord, load_many, load_prompts

SL_CAI_SCHEMA = "constitutional.sl_cai/1"
DISTILL_SCHEMA = "constitutional.distill/1"
HELPFUL_SCHEMA = "constitutional.helpful/1"
PAIRS_SCHEMA = "constitutional.pairs/1"
LABELS_SCHEMA = "constitutional.labels/1"
GENERATE_SCHEMA = "constitutional.generate/1"
POLICY_STAGES = ("sft", "rl", "dpo")  # stages that leave a tuned policy in <run>/<stage>/model


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
    """The last tuned model of the run (RL, else DPO, else SFT), as a spec."""
    return next((f"hf:{model_dir(run, s)}" for s in ("rl", "dpo", "sft") if has_model(run, s)), None)


def finished_model_stage(run: RunDir, stage: str) -> dict | None:
    """The summary of a training stage that already saved its model (None:
    it has not): a rerun of a chained run skips finished training."""
    if run.is_done(stage) and has_model(run, stage):
        console.print(f"[bold]{stage}[/]: already done, model in {model_dir(run, stage)}")
        return run.manifest()["stages"][stage].get("summary", {})
    return None


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


def distill_prompt_sets(cfg: RunConfig) -> dict[str, list[PromptRecord]]:
    """The prompts the distill stage answers, by kind (harmful, benign, helpful), all from train splits."""
    d = cfg.distill
    return {"harmful": load_prompts(d.harmful_prompts, "train", d.harmful_limit),
            "benign": load_many(d.benign_prompts, "train", d.benign_limit),
            "helpful": load_prompts(d.helpful_prompts, "train", d.helpful_limit)}


def kept_targets(records: Iterable[dict]) -> Iterator[tuple[dict, str]]:
    """(record, its kept candidate) for every record with a target; the one place
    that reads the ``chosen`` index."""
    for r in records:
        if r["chosen"] is not None:
            yield r, r["candidates"][r["chosen"]]


def distill_examples(cfg: RunConfig, run: RunDir) -> list[dict]:
    """SFT prompt/completion examples from the kept targets of the prompts the
    config names (bare prompts: no system prompt, no demonstrations)."""
    wanted = {f"{kind}/{p.id}" for kind, ps in distill_prompt_sets(cfg).items() for p in ps}
    return [{"id": r["id"], "kind": r["kind"], "prompt": r["messages"],
             "completion": [{"role": "assistant", "content": target}]}
            for r, target in kept_targets(distill_store(run)) if r["id"] in wanted]


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
