"""Generate: answer a prompt set with any model spec and keep the records.

Writes ``<run>/generate/records.jsonl`` (schema ``constitutional.generate/1``),
one record per prompt with the model and sampling parameters.
"""

from __future__ import annotations

import time

from constitutional.core.config import RunConfig
from constitutional.core.runs import RecordStore
from constitutional.core.ui import console, progress, summary, table
from constitutional.models import SamplingParams
from constitutional.models.cached import cached_model
from constitutional.prompts import load_prompts
from constitutional.stages.artifacts import GENERATE_SCHEMA, begin_stage


def main(cfg: RunConfig) -> dict:
    g = cfg.generate
    run, done = begin_stage(cfg, "generate")
    if done is not None:
        return done
    run.mark("generate", "running")
    prompts = load_prompts(g.prompts, g.split, g.limit)
    params = SamplingParams(max_new_tokens=g.max_new_tokens, temperature=g.temperature, top_p=g.top_p, seed=cfg.seed)
    model = cached_model(cfg, run)
    t0 = time.time()
    with progress(f"generate ({model.name})", len(prompts)) as advance:
        answers = model.generate([list(p.messages) for p in prompts], params, advance)
    seconds = time.time() - t0
    store = RecordStore(run.stage_dir("generate") / "records.jsonl", GENERATE_SCHEMA)
    done = store.ids()
    for p, a in zip(prompts, answers):
        rid = f"{model.name}|{p.id}|{params.seed}"
        if rid not in done:
            store.append({"id": rid, "prompt_id": p.id, "category": p.category, "messages": list(p.messages),
                          "response": a, "model": model.name, "params": params.to_dict(), "created": time.time()})
    table("answers", ["id", "prompt", "answer"], [(p.id, p.prompt[:80], a[:160]) for p, a in zip(prompts, answers)])
    result = {"prompts": len(prompts), "model": model.name, "seconds": round(seconds, 1),
              "calls (new / cached)": f"{model.misses} / {model.hits}", "records": str(store.path)}
    run.mark("generate", "done", summary=result)
    console.print()
    summary("generate summary", result)
    return result
