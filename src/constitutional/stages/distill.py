"""Context distillation under the constitution: one mixed pool of training
prompts, each declined or answered as the constitution decides.

The run's constitution decides, not the file a prompt came from. Its
classifier (``constitutional.decision``, fitted on the constitution's own
restricted and permitted examples) reads every prompt of the pool
(``distill.prompts``, train splits, any unlabeled file of your own works):

- a request it restricts gets a refusal that cites the principle that
  applies, in the constitution's words: a refusal opener
  (``distill.refusal_openers``, seeded per prompt) + the principle's
  ``concern`` + an opener that points to help
  (``distill.alternative_openers``) + the principle's ``help``. A 135M model
  asked to refuse under a system prompt does not (0 of 24 prompts in 3
  samples), and the reasons it wrote itself were empty ("because it could
  be a scam"), so the constitution writes them;
- a permitted request is answered ``distill.samples`` times by the model
  under ``distill.answer_system``, and the longest answer the refusal
  classifier calls compliance is kept (best-of-N). An answer that
  ``distill.max_new_tokens`` cut off mid-sentence is trimmed to its last
  full sentence (``distill.trim_cut_answers``): SFT appends the end-of-turn
  token to every target, so an untrimmed one teaches the model to stop
  mid-sentence (288 of the demo's 354 answers ended that way).

The bare prompt (no system prompt) and its target become an SFT example. At
most ``distill.refusal_share`` of the ``distill.limit`` targets are
refusals, drawn evenly across the principles that apply, and only clear
cases are trained on: a refusal where the classifier is at least
``distill.refuse_above`` sure, an answer where it is below
``distill.answer_below``. On the packaged pool of 851 prompts, 0.6 leaves
101 candidates for refusal, 95 % of them red-team prompts, where the decision
threshold 0.5 leaves about 280 at 71 %; 0.45 leaves 14 red-team prompts among
426 answers (0.4: 4 of 244, too few answers to writing requests, which the
classifier puts near 0.5; 0.5: 49 of 592). A prompt file's own
labels (its name, its ``category``) are read only to *measure* the decision:
the summary gives the classifier's accuracy on held-out labeled prompts
(``decision.restricted_sets`` and ``permitted_sets``) and its agreement with
the pool's files.

Outputs: ``<run>/distill/records.jsonl`` (schema ``constitutional.distill/2``:
the decision, the principle cited, the candidates, the choice),
``decisions.jsonl`` (every pool prompt's decision) and
``decision_check.json``.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict

from constitutional.constitution import Constitution
from constitutional.core.config import RunConfig
from constitutional.core.seeding import rng_for
from constitutional.core.ui import console, progress, summary, table
from constitutional.decision import classifier_for
from constitutional.decision.check import COLUMNS, check, check_rows
from constitutional.models import SamplingParams
from constitutional.models.cached import cached_model
from constitutional.prompts import PromptRecord, load_prompts
from constitutional.refusal import default_classifier
from constitutional.stages.artifacts import CONSTITUTION_SOURCE, begin_stage, distill_store

RESTRICTED_FILES = ("redteam", "heldout_harmful")  # packaged files of requests to decline: measurement only
_FINISHED = re.compile(r"""[.!?:][)"'\]]*\s*$|```\s*$""")  # ends a sentence, a list's lead-in or a code block
_BOUNDARY = re.compile(r"""(?<![0-9])[.!?][)"'\]]*(?=\s)|\n""")  # not after a digit: "3. " numbers a list
KEEP_AT_LEAST = 0.5  # trim only where the full sentences hold at least half the answer; else keep it whole


def trim_cut(text: str) -> str:
    """``text`` up to its last full sentence (or line) if it stops mid-sentence, else ``text`` unchanged."""
    body = text.rstrip()
    if not body or _FINISHED.search(body):
        return body
    ends = [m.end() for m in _BOUNDARY.finditer(body)]
    cut = body[: ends[-1]].rstrip() if ends else ""
    return cut if len(cut) >= KEEP_AT_LEAST * len(body) else body


def constitution_prompts(c: Constitution) -> list[PromptRecord]:
    """The constitution's own example requests as prompts, category ``restricted`` (what a restricting principle
    covers), ``lookalike`` (its look-alikes) or ``permitted`` (a permitted area's examples); ids name the principle."""
    def prompts(kind: str, owner: str, texts: list[str]) -> list[PromptRecord]:
        return [PromptRecord(f"{kind}-{owner}-{k:02d}", ({"role": "user", "content": t},), category=kind, split="train")
                for k, t in enumerate(texts)]

    out = []
    for p in c.restricting:
        out += prompts("restricted", p.id, p.examples) + prompts("lookalike", p.id, p.lookalikes)
    for a in c.permitted:
        out += prompts("permitted", a.id, a.examples)
    return out


def pool(cfg: RunConfig, constitution: Constitution) -> list[tuple[str, PromptRecord]]:
    """(source, prompt) for every train-split prompt of ``distill.prompts`` (``constitution``: the run's
    constitution's own examples), in a seeded order."""
    items = [(src, p) for src in cfg.distill.prompts
             for p in (constitution_prompts(constitution) if src == CONSTITUTION_SOURCE else load_prompts(src, "train"))]
    rng_for(cfg.seed, "distill", "pool").shuffle(items)
    return items


def select(decisions: list, limit: int, refusal_share: float, refuse_above: float,
           answer_below: float, boundary_share: float) -> tuple[list[int], list[int]]:
    """Indices of the prompts to decline and to answer. Only clear cases become targets: a refusal where the
    constitution's classifier is at least ``refuse_above`` sure, an answer where it is below ``answer_below``.
    At most ``refusal_share * limit`` are declined, taken in turn from each principle that applies (so no
    principle crowds out the others); the rest are answered, ``boundary_share`` of them the permitted prompts
    the classifier scores highest (the look-alikes a refusal reflex would catch), then in pool order."""
    by_principle: dict[str, list[int]] = defaultdict(list)
    permitted = []
    for i, d in enumerate(decisions):
        if d.restricted and d.p_restricted >= refuse_above:
            by_principle[d.principle].append(i)
        elif d.p_restricted < answer_below:
            permitted.append(i)
    # the share holds against the answers there are, not only against the limit
    quota = min(round(refusal_share * limit), round(refusal_share / (1 - refusal_share) * len(permitted)) if
                refusal_share < 1 else limit, sum(len(v) for v in by_principle.values()))
    queues = [by_principle[k] for k in sorted(by_principle)]
    refuse: list[int] = []
    while len(refuse) < quota:
        refuse += [q.pop(0) for q in queues if q][: quota - len(refuse)]
    n = limit - len(refuse)
    near = sorted(permitted, key=lambda i: -decisions[i].p_restricted)[: round(boundary_share * n)]
    taken = set(near)
    return refuse, (near + [i for i in permitted if i not in taken])[:n]


def refusal_text(principle, opener: str, alternative: str) -> str:
    return f"{opener} {principle.concern.rstrip('.')}. {alternative} {principle.help.rstrip('.')}."


def main(cfg: RunConfig) -> dict:
    d = cfg.distill
    run, done = begin_stage(cfg, "distill")
    if done is not None:
        return done
    out = run.stage_dir("distill")
    t0 = time.time()
    constitution = cfg.constitution_for("distill")
    clf = classifier_for(constitution, cfg.decision.threshold, cfg.decision.c)
    items = pool(cfg, clf.constitution)
    console.print(f"[bold]distill[/]: {len(items)} prompts from {', '.join(d.prompts)}; constitution "
                  f"'{clf.constitution.name}' ({len(clf.constitution.restricting)} restricting principles) decides")
    decisions = clf.decide([p.prompt for _, p in items])
    with (out / "decisions.jsonl").open("w", encoding="utf-8") as f:
        for (src, p), dec in zip(items, decisions):
            f.write(json.dumps({"id": p.id, "source": src, "category": p.category, "prompt": p.prompt,
                                **dec.as_dict()}, ensure_ascii=False) + "\n")
    report = check(clf, cfg.decision.restricted_sets, cfg.decision.permitted_sets)
    (out / "decision_check.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    table(f"decision check: {report['classifier']} (held-out labeled prompts)", COLUMNS, check_rows(report))
    refuse, answer = select(decisions, d.limit, d.refusal_share, d.refuse_above, d.answer_below, d.boundary_share)
    store = distill_store(run)
    have = store.ids()
    run.mark("distill", "running")

    def kind(i: int) -> str:
        return "harmful" if decisions[i].restricted else "benign"

    def record(i: int, candidates: list[str], classes: list[str], chosen: int | None) -> dict:
        src, p = items[i]
        dec = decisions[i]
        return {"id": f"{kind(i)}/{p.id}", "kind": kind(i), "messages": list(p.messages),
                "source": src, "category": p.category, "decision": dec.as_dict(), "constitution":
                clf.constitution.fingerprint, "candidates": candidates, "classes": classes, "chosen": chosen}

    for i in refuse:
        rng = rng_for(cfg.seed, items[i][1].id, "refusal")
        text = refusal_text(clf.principle(decisions[i]), rng.choice(d.refusal_openers), rng.choice(d.alternative_openers))
        if f"{kind(i)}/{items[i][1].id}" not in have:
            store.append(record(i, [text], ["refuse"], 0))
    todo = [i for i in answer if f"{kind(i)}/{items[i][1].id}" not in have]
    classifier = default_classifier()
    model = cached_model(cfg, run) if todo else None
    with progress("distill answers", len(todo) * d.samples) as advance:
        for start in range(0, len(todo), cfg.batch_size):
            part = todo[start : start + cfg.batch_size]
            convs = [[{"role": "system", "content": d.answer_system},
                      *[m for m in items[i][1].messages if m["role"] != "system"]] for i in part]
            samples = [model.generate(convs, SamplingParams(max_new_tokens=d.max_new_tokens, temperature=d.temperature,
                                                            top_p=d.top_p, seed=cfg.seed + j,
                                                            repetition_penalty=d.repetition_penalty), advance)
                       for j in range(d.samples)]
            for row, i in enumerate(part):
                cands = [trim_cut(s[row]) if d.trim_cut_answers else s[row] for s in samples]
                classes = classifier.classify_many([items[i][1].prompt] * len(cands), cands)
                ok = [j for j, (c, cls) in enumerate(zip(cands, classes)) if cls == "comply" and c.strip()]
                store.append(record(i, cands, classes, max(ok, key=lambda j: len(cands[j])) if ok else None))
    records = list(store)
    kept = [r for r in records if r["chosen"] is not None]
    file_says = [src in RESTRICTED_FILES or (src == CONSTITUTION_SOURCE and p.category == "restricted")
                 for src, p in items]
    result = {
        "constitution": f"{clf.constitution.name} ({clf.constitution.fingerprint})",
        "pool prompts": len(items), "declined by the constitution": sum(x.restricted for x in decisions),
        "decision accuracy, held-out labeled prompts": report["accuracy"],
        "decision balanced accuracy, held-out": report["balanced_accuracy"],
        "decision agreement with the pool's files": round(
            sum(x.restricted == f for x, f in zip(decisions, file_says)) / max(len(items), 1), 4),
        "refusal targets": sum(r["kind"] == "harmful" for r in kept),
        "answer targets kept": f"{sum(r['kind'] == 'benign' for r in kept)}/{len(answer)}",
        "principles cited": len({r["decision"]["principle"] for r in kept if r["kind"] == "harmful"}),
        "seconds": round(time.time() - t0, 1), "records": str(store.path),
    }
    run.mark("distill", "done", summary=result, constitution={"name": clf.constitution.name,
                                                               "hash": clf.constitution.fingerprint})
    summary("distill summary", result)
    return result
