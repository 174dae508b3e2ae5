"""SL-CAI: responses, then rounds of critique and revision against sampled
principles (Bai et al. 2022, sec. 3).

For each red-team prompt:
1. the model answers the prompt alone (the "helpful-only" response);
2. each round samples a principle independently (rng seeded by seed, prompt
   id and round), shows the few-shot demonstrations, asks for a critique
   under the principle's critique request, then for a revision under its
   revision request;
3. the revision is cleaned of meta-text and checked (``revision_quality``).

Departures from the paper, on purpose:
- The demonstrations are chat turns (user/assistant), not a single
  "Human:/Assistant:" transcript: the chat models we target were tuned on
  their template, and a 135M model follows it far better.
- The demonstrations are drawn once per run (seeded), as the paper's fixed
  few-shot prompt; every critique and revision prompt then starts with the
  same tokens, which the transformers backend computes once (prefix reuse).
- Round k+1 critiques the round-k revision in a fresh context (prompt +
  latest revision), not the growing transcript; long contexts make small
  critics drift and cost prefill time.

Output: ``<run>/sl_cai/records.jsonl`` (schema ``constitutional.sl_cai/1``),
one record per prompt, append-only, with the model, sampling parameters,
seed and principle ids. ``sft`` trains on the final revisions
(``sft.data: sl_cai``); the ``revision`` pair strategy pairs each revision
against the original response.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from constitutional.constitution import Constitution, load_constitution
from constitutional.core.config import RunConfig
from constitutional.core.seeding import rng_for
from constitutional.core.ui import console, progress, summary
from constitutional.feedback.revision_quality import clean_revision, revision_flags
from constitutional.models import SamplingParams
from constitutional.models.cached import CachedGenerator, cached_model
from constitutional.prompts import Demo, PromptRecord, load_fewshot, load_prompts
from constitutional.stages.artifacts import begin_stage, revision_examples, sl_cai_store


@dataclass
class _State:
    """One prompt's record as the rounds fill it in."""

    prompt: PromptRecord
    response: str = ""
    rounds: list[dict] = field(default_factory=list)

    @property
    def latest(self) -> str:
        return self.rounds[-1]["revision"] if self.rounds else self.response


def demo_turns(demos: list[Demo]) -> list[dict]:
    turns = []
    for d in demos:
        turns += [
            {"role": "user", "content": d.prompt}, {"role": "assistant", "content": d.response},
            {"role": "user", "content": d.critique_request}, {"role": "assistant", "content": d.critique},
            {"role": "user", "content": d.revision_request}, {"role": "assistant", "content": d.revision},
        ]
    return turns


def sampling(cfg: RunConfig) -> dict[str, SamplingParams]:
    s = cfg.sl_cai
    common = dict(top_p=s.top_p, seed=cfg.seed)
    edit = dict(temperature=s.critique_temperature, repetition_penalty=s.repetition_penalty, **common)
    return {
        "response": SamplingParams(max_new_tokens=s.response_tokens, temperature=s.temperature, **common),
        "critique": SamplingParams(max_new_tokens=s.critique_tokens, **edit),
        "revision": SamplingParams(max_new_tokens=s.revision_tokens, **edit),
    }


def run_chunk(states: list[_State], demos: list[Demo], model: CachedGenerator, constitution: Constitution,
              cfg: RunConfig, params: dict[str, SamplingParams], advance) -> None:
    """Fill in response and all rounds for a chunk of prompts, one batched call per step."""
    shots = demo_turns(demos)
    demo_texts = [t for d in demos for t in (d.response, d.critique, d.revision)]
    responses = model.generate([list(s.prompt.messages) for s in states], params["response"], advance)
    for s, r in zip(states, responses):
        s.response = r
    for rnd in range(cfg.sl_cai.rounds):
        principles = [constitution.sample(rng_for(cfg.seed, s.prompt.id, "principle", rnd)) for s in states]
        crit_convs = [
            shots + list(s.prompt.messages)
            + [{"role": "assistant", "content": s.latest}, {"role": "user", "content": p.critique}]
            for s, p in zip(states, principles)
        ]
        critiques = model.generate(crit_convs, params["critique"], advance)
        rev_convs = [
            conv + [{"role": "assistant", "content": c}, {"role": "user", "content": p.revision}]
            for conv, c, p in zip(crit_convs, critiques, principles)
        ]
        revisions = model.generate(rev_convs, params["revision"], advance)
        for s, p, c, raw in zip(states, principles, critiques, revisions):
            rev = clean_revision(raw)
            s.rounds.append({
                "round": rnd, "principle_id": p.id, "critique_request": p.critique, "critique": c,
                "revision_request": p.revision, "revision_raw": raw, "revision": rev,
                "flags": revision_flags(rev, c, s.latest, demo_texts, s.prompt.prompt),
            })


def to_record(s: _State, demos: list[Demo], cfg: RunConfig, constitution: Constitution, model_name: str,
              params: dict[str, SamplingParams]) -> dict:
    return {
        "id": s.prompt.id, "category": s.prompt.category, "messages": list(s.prompt.messages),
        "response": s.response, "rounds": s.rounds,
        "principle_ids": [r["principle_id"] for r in s.rounds], "fewshot_ids": [d.id for d in demos],
        "constitution": constitution.name, "constitution_sha": constitution.fingerprint,
        "model": model_name, "seed": cfg.seed,
        "params": {k: v.to_dict() for k, v in params.items()}, "created": time.time(),
    }


def main(cfg: RunConfig) -> dict:
    s = cfg.sl_cai
    run, done = begin_stage(cfg, "sl_cai")
    if done is not None:
        return done
    constitution = load_constitution(cfg.constitution_for("sl_cai"))
    prompts = load_prompts(s.prompts, s.split, s.limit)
    demos = load_fewshot(s.fewshot)
    store = sl_cai_store(run)
    done = store.ids()
    todo = [p for p in prompts if p.id not in done]
    console.print(f"[bold]sl_cai[/]: {len(prompts)} prompts ({len(done)} already done), {s.rounds} round(s), "
                  f"constitution '{constitution.name}' ({len(constitution.principles)} principles)")
    run.mark("sl_cai", "running")
    t0 = time.time()
    params = sampling(cfg)
    model = cached_model(cfg, run) if todo else None
    chunk = max(cfg.batch_size * 2, 1)  # records land every chunk: a kill loses at most one chunk's bookkeeping
    run_demos = rng_for(cfg.seed, "fewshot").sample(demos, min(s.num_fewshot, len(demos)))
    with progress("sl_cai calls", len(todo) * (1 + 2 * s.rounds)) as advance:
        for i in range(0, len(todo), chunk):
            states = [_State(p) for p in todo[i : i + chunk]]
            run_chunk(states, run_demos, model, constitution, cfg, params, advance)
            for st in states:
                store.append(to_record(st, run_demos, cfg, constitution, model.name, params))
    records = list(store)
    kept = revision_examples(records, "final", drop_flagged=True)
    flags: dict[str, int] = {}
    for rec in records:
        for r in rec["rounds"]:
            for fl in r["flags"]:
                flags[fl] = flags.get(fl, 0) + 1
    n_rev = sum(len(r["rounds"]) for r in records)
    result = {
        "prompts": len(records), "revisions": n_rev,
        "revisions kept (final round)": len(kept),
        **{f"flagged: {k}": v for k, v in sorted(flags.items())},
        "model calls (new / cached)": f"{model.misses} / {model.hits}" if model else "0 / all",
        "seconds": round(time.time() - t0, 1), "records": str(store.path),
    }
    run.mark("sl_cai", "done", summary=result)
    summary("SL-CAI summary", result)
    return result
