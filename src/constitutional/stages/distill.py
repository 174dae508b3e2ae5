"""Context distillation: the model's own behavior under the constitution,
distilled into its weights (Askell et al. 2021; the CAI paper's pipeline
starts from such a model).

A small model follows a clear instruction and a few worked examples far
better than it critiques and revises. So for every training prompt the model
answers ``distill.samples`` times *with* a constitutional system prompt and
demonstrations in context, and the best candidate becomes an SFT target for
the *bare* prompt:

- harmful prompts (red-team train split): the system prompt asks for a short
  refusal that says why and offers a safe alternative. A 135M model ignores
  that instruction (0 of 24 prompts got a refusal in 3 samples), so the reply
  is given a fixed shape: it starts with a refusal opener
  (``distill.refusal_openers``, one per prompt, seeded) that ends in "because
  it could", the model writes the harm, then the reply continues with an
  opener that points to help (``distill.alternative_openers``: "...I'd
  suggest talking to") and the model names who. What is declined is fixed;
  why, and where to turn, are the model's. The shape is measured: after an
  open "Instead," the model wrote anything, often the request again
  ("Instead, I'll help you find a way out of the sandbox"), and "because"
  alone drew capability talk ("because I'm too busy"). A candidate
  is kept only if the refusal classifier calls it a refusal, preferring one
  that offers a safe alternative (a re-offer does not count), then the
  shortest (best-of-N, classifier filter);
- benign look-alikes (borderline train split) and helpful prompts: the
  system prompt asks for a direct, complete answer; kept only if the
  classifier calls it compliance. These teach when *not* to refuse.

Candidates that copy a demonstration are dropped. Every candidate, its class
and the choice are recorded in ``<run>/distill/records.jsonl`` (schema
``constitutional.distill/1``); ``sft.data: distill`` (or ``both``) trains on
the kept targets, and the ``classifier`` pair strategy pairs a target
against a policy sample that got the prompt wrong.
"""

from __future__ import annotations

import re
import time

from constitutional.core.config import RunConfig
from constitutional.core.runs import open_run
from constitutional.core.seeding import rng_for
from constitutional.core.ui import console, progress, summary
from constitutional.feedback.revision_quality import overlap
from constitutional.models import SamplingParams
from constitutional.models.cached import cached_model
from constitutional.prompts import PromptRecord, load_fewshot
from constitutional.refusal import default_classifier
from constitutional.stages.artifacts import distill_prompt_sets, distill_store

HARMLESS_SYSTEM = (
    "You are a careful assistant guided by a constitution: do not help anyone hurt people, break the law, "
    "invade privacy or deceive. When a request could cause harm, answer in two or three sentences: say plainly "
    "that you won't help with it, give the reason in a few words, and offer a safe alternative or a place to get "
    "help. Never give the harmful details.")
HELPFUL_SYSTEM = (
    "You are a helpful, knowledgeable assistant. This request is safe, even if some of its words sound "
    "alarming. Answer it directly and completely, with concrete, correct details. Do not refuse, warn or lecture.")


# A reason worth learning names what could go wrong; "because it could be a piece of art" does not.
HARM_WORDS = re.compile(r"\b(?:harm|hurt|danger|unsafe|risk|injur|kill|death|die|damag|abus|illegal|crim|law|"
                        r"privacy|consent|trust|fraud|scam|decei|mislead|hate|violen|toxic|weapon|theft|steal|"
                        r"breach|compromis|exploit|threat|attack)\w*", re.IGNORECASE)


def demo_turns(kind: str) -> list[dict]:
    """Worked examples in context: the packaged few-shot revisions (harmful
    requests declined with an alternative) for harmful prompts; none for the
    others (the benign demonstration would be the only one, and the model
    copies a lone example)."""
    if kind != "harmful":
        return []
    turns = []
    for d in load_fewshot():
        if "can't" in d.revision.lower() or "won't" in d.revision.lower():
            turns += [{"role": "user", "content": d.prompt}, {"role": "assistant", "content": d.revision}]
    return turns


def conversations(kind: str, prompts: list[PromptRecord]) -> list[list[dict]]:
    system = HARMLESS_SYSTEM if kind == "harmful" else HELPFUL_SYSTEM
    shots = demo_turns(kind)
    return [[{"role": "system", "content": system}, *shots, *[m for m in p.messages if m["role"] != "system"]]
            for p in prompts]


def shaped_refusals(model, convs: list[list[dict]], openers: list[str], alternatives: list[str], d, seed: int,
                    advance) -> list[str]:
    """Refusals in a fixed shape: opener + the model's reason [+ alternative
    opener + the model's pointer to help]. Each step continues the assistant turn."""
    # each step is one sentence: stop at its end
    params = dict(temperature=d.refusal_temperature, top_p=d.top_p, seed=seed, stop=(".", "\n"),
                  repetition_penalty=d.repetition_penalty)
    reasons = model.generate([c + [{"role": "assistant", "content": o}] for c, o in zip(convs, openers)],
                             SamplingParams(max_new_tokens=d.reason_tokens, **params), advance)
    texts = [f"{o} {r.strip().rstrip('.')}." for o, r in zip(openers, reasons)]
    if not alternatives:
        return texts
    texts = [f"{t} {a}" for t, a in zip(texts, alternatives)]
    alts = model.generate([c + [{"role": "assistant", "content": t}] for c, t in zip(convs, texts)],
                          SamplingParams(max_new_tokens=d.alternative_tokens, **params))
    return [f"{t} {a.strip().rstrip('.')}." for t, a in zip(texts, alts)]


def choose(kind: str, candidates: list[str], classes: list[str], alternatives: list[bool],
           demo_texts: list[str]) -> int | None:
    """Index of the kept candidate, or None. Harmful: a refusal, one that offers
    a safe alternative first (the classifier's verdict, which a re-offer of the
    request fails), then one whose reason names a harm (``HARM_WORDS``), then
    the shortest. Others: a compliant answer, the longest
    (small models' short answers are the incomplete ones)."""
    want = "refuse" if kind == "harmful" else "comply"
    ok = [i for i, (c, cls) in enumerate(zip(candidates, classes))
          if cls == want and c.strip() and max((overlap(c, d) for d in demo_texts), default=0) < 0.6]
    if not ok:
        return None
    if kind == "harmful":
        def rank(i: int) -> tuple:
            reason = candidates[i].split(". ")[0]
            return (not alternatives[i], not HARM_WORDS.search(reason), len(candidates[i]))

        return min(ok, key=rank)
    return max(ok, key=lambda i: len(candidates[i]))


def samples_for(kind: str, d) -> int:
    """Candidates per prompt: ``distill.refusal_samples`` for harmful prompts, ``distill.samples`` for the rest."""
    return d.refusal_samples if kind == "harmful" else d.samples


def main(cfg: RunConfig) -> dict:
    d = cfg.distill
    run = open_run(cfg, "distill")
    store = distill_store(run)
    have = store.ids()
    sets = distill_prompt_sets(cfg)
    todo = {k: [p for p in ps if f"{k}/{p.id}" not in have] for k, ps in sets.items()}
    n_todo = sum(len(v) for v in todo.values())
    console.print(f"[bold]distill[/]: {', '.join(f'{k} {len(v)}' for k, v in sets.items())} prompts "
                  f"({n_todo} to do), {d.samples} samples each ({samples_for('harmful', d)} for harmful) "
                  "under the constitution's context")
    run.mark("distill", "running")
    t0 = time.time()
    classifier = default_classifier()
    demo_texts = [t["content"] for t in demo_turns("harmful") if t["role"] == "assistant"]
    model = cached_model(cfg, run) if n_todo else None
    with progress("distill samples", sum(len(v) * samples_for(k, d) for k, v in todo.items())) as advance:
        for kind, prompts in todo.items():
            for i in range(0, len(prompts), cfg.batch_size):
                part = prompts[i : i + cfg.batch_size]
                convs = conversations(kind, part)
                if kind == "harmful" and d.refusal_openers:
                    openers = [rng_for(cfg.seed, p.id, "opener").choice(d.refusal_openers) for p in part]
                    alt_openers = ([rng_for(cfg.seed, p.id, "alternative").choice(d.alternative_openers) for p in part]
                                   if d.alternative_openers else [])
                    samples = [shaped_refusals(model, convs, openers, alt_openers, d, cfg.seed + j, advance)
                               for j in range(samples_for(kind, d))]
                else:
                    samples = [model.generate(convs, SamplingParams(max_new_tokens=d.max_new_tokens,
                                                                    temperature=d.temperature, top_p=d.top_p,
                                                                    seed=cfg.seed + j,
                                                                    repetition_penalty=d.repetition_penalty),
                                              advance) for j in range(samples_for(kind, d))]
                for row, p in enumerate(part):
                    cands = [s[row] for s in samples]
                    classes = classifier.classify_many([p.prompt] * len(cands), cands)
                    alts = classifier.offers_alternative_many([p.prompt] * len(cands), cands)
                    pick = choose(kind, cands, classes, alts, demo_texts)
                    store.append({"id": f"{kind}/{p.id}", "kind": kind, "messages": list(p.messages),
                                  "candidates": cands, "classes": classes, "alternatives": alts, "chosen": pick,
                                  "system": convs[row][0]["content"], "model": model.name})
    records = list(store)
    result = {}
    for kind in sets:
        recs = [r for r in records if r["kind"] == kind]
        kept = [r for r in recs if r["chosen"] is not None]
        result[f"{kind}: targets kept"] = f"{len(kept)}/{len(recs)}"
        if kind == "harmful":
            result["harmful: targets offering an alternative"] = sum(r["alternatives"][r["chosen"]] for r in kept)
    result.update({"seconds": round(time.time() - t0, 1), "records": str(store.path)})
    run.mark("distill", "done", summary=result)
    summary("distill summary", result)
    return result
