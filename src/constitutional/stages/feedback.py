"""RL-CAI AI feedback: soft preference labels for the run's pairs.

For every pair without a label (``judge`` strategy), a feedback model reads
the conversation, ``feedback.principles`` comparison questions sampled per
pair from the constitution (helpfulness questions for helpfulness pairs),
and the two replies in both orders (see ``constitutional.judge``). Pairs that
came labeled (revision, contrastive, classifier, human) pass through with
their label; when every pair did, no judge is loaded or checked.

Before labeling, the same judge with the same settings is measured on the
packaged labeled pairs (``judge_check``); every label record carries that
accuracy and the judge's position bias, and ``judge_check.json`` keeps the
full report. Outputs: ``<run>/feedback/labels.jsonl`` (schema
``constitutional.labels/1``). A killed run resumes: labeled ids are skipped
and repeated model calls are answered from the run's cache.
"""

from __future__ import annotations

import json
import time

from constitutional.constitution import load_constitution
from constitutional.core.config import RunConfig
from constitutional.core.errors import ConstitutionalError
from constitutional.core.ui import console, progress, summary, table
from constitutional.decision import classifier_for
from constitutional.feedback.check import (
    CHECK_COLUMNS,
    check_calls,
    check_rows,
    judge_check,
    judge_name,
    questions_for,
    scorer,
    settings_for,
)
from constitutional.feedback.judge import Pair, position_bias
from constitutional.models.cached import cached_model
from constitutional.stages.artifacts import LABELS_SCHEMA, begin_stage, labels_store, pairs_store


def main(cfg: RunConfig) -> dict:
    f = cfg.feedback
    run, done = begin_stage(cfg, "feedback")
    if done is not None:
        return done
    out_dir = run.stage_dir("feedback")
    pairs = list(pairs_store(run))
    if not pairs:
        raise ConstitutionalError("no pairs to label", file=pairs_store(run).path,
                                  hint="run the pairs stage first (constitutional pairs CONFIG)")
    store = labels_store(run)
    have = store.ids()
    todo = [p for p in pairs if p["id"] not in have]
    spec = f.model or cfg.model
    settings = settings_for(f, cfg.seed)
    # pairs that came labeled (construction, classifier, human) need no judge, and no judge check
    need_judge = any(p["label"] is None for p in todo)
    model = cached_model(cfg, run, spec) if need_judge else None
    d = cfg.decision
    clf = classifier_for(cfg.constitution_for("feedback"), d.threshold, d.c) if f.judge == "constitution" else None
    label = scorer(f, clf)
    run.mark("feedback", "running")
    t0 = time.time()
    check = None
    if f.check and need_judge:
        with progress("judge check", check_calls(f, f.check_limit)) as advance:
            check = judge_check(model, f, cfg.constitution, cfg.seed, f.check_limit, advance, clf)
        (out_dir / "judge_check.json").write_text(json.dumps(check, indent=2), encoding="utf-8")
        table(f"judge check: {check['judge']} on {check['labeled_set']}", CHECK_COLUMNS, check_rows(check))
    judge = {"model": judge_name(f, spec), "accuracy": check["accuracy"] if check else None,
             "position_bias": check["position_bias"] if check else None, "n": check["n"] if check else 0,
             "labeled_set": check["labeled_set"] if check else None}
    harmless, helpful = load_constitution(cfg.constitution_for("feedback")), load_constitution(f.helpful_constitution)
    unlabeled = [p for p in todo if p["label"] is None]
    console.print(f"[bold]feedback[/]: {len(pairs)} pairs, {len(unlabeled)} to label with {spec} "
                  f"({settings.k} question(s) x 2 orders{', chain of thought' if settings.cot else ''})")
    for p in todo:
        if p["label"] is not None:
            store.append({**p, "schema": LABELS_SCHEMA, "judge": None})
    chunk = max(cfg.batch_size // 2, 1)
    with progress("feedback labels", len(unlabeled)) as advance:
        for i in range(0, len(unlabeled), chunk):
            part = unlabeled[i : i + chunk]
            qs = [questions_for(p["kind"], p["id"], harmless, helpful, settings.k, cfg.seed) for p in part]
            results = label(model, [Pair(p["id"], tuple(p["messages"]), p["a"], p["b"]) for p in part], qs, settings)
            for p, r in zip(part, results):
                store.append({**p, "schema": LABELS_SCHEMA, "label": round(r["p_a"], 6), "label_source": "ai feedback",
                              "p_first": r["p_first"], "scores": r["scores"], "questions": r["questions"],
                              "judge": judge})
            advance(len(part))
    labels = list(store)
    ai = [r for r in labels if r["label_source"] == "ai feedback"]
    result = {
        "pairs labeled": len(labels), "by AI feedback": len(ai),
        "by construction / human": len(labels) - len(ai),
        "judge": judge["model"], "judge accuracy (judge_pairs)": judge["accuracy"],
        "judge accuracy, harmful pairs": check["by_kind"].get("harmful", {}).get("accuracy") if check else None,
        "judge position bias (judge_pairs)": judge["position_bias"],
        "position bias while labeling": round(position_bias(ai), 4) if ai else None,
        "mean |label - 0.5|": round(sum(abs(r["label"] - 0.5) for r in ai) / len(ai), 4) if ai else None,
        "labels preferring a": sum(r["label"] > 0.5 for r in labels),
        "seconds": round(time.time() - t0, 1), "labels": str(store.path),
    }
    run.mark("feedback", "done", summary=result)
    summary("feedback summary", result)
    return result
