"""Rule-based rewards (Mu et al. 2024): fit the weights of the rule
propositions so that reward model + rules ranks replies as each category
asks; ``rl.reward: rbr`` then optimizes against that total in the shared RL
stage.

1. The rule set (``rbr.rules``, packaged ``sparrow``) names the propositions
   and each category's ranking of reply classes.
2. The grader (``rbr.grader``) gives every proposition's probability for the
   labeled replies (``rbr.labeled``); its accuracy per proposition is
   measured on their eval split.
3. The weights, one vector per category, are fitted with the hinge loss over
   each prompt's rankings (``constitutional.train.rbr``) on the train split,
   on top of the reward model's score (``rbr.reward_model``, else this run's
   reward model, else none), and checked on the eval split.
4. At RL time the run's constitution decides each prompt's category (its
   classifier), never a file label; the stage reports how often that decision
   agrees with the labeled replies' categories.

Output: ``<run>/rbr/weights.json`` (schema ``constitutional.rbr-weights/1``)
and ``grades.jsonl`` (every labeled reply's proposition probabilities).
"""

from __future__ import annotations

import json
import time

from constitutional.core.config import RunConfig
from constitutional.core.errors import ConstitutionalError
from constitutional.core.ui import console, progress, summary, table
from constitutional.decision import classifier_for
from constitutional.feedback.propositions import PropositionGrader, labeled_replies, load_rules
from constitutional.models.cached import cached_model
from constitutional.refusal import default_classifier
from constitutional.stages.artifacts import begin_stage
from constitutional.train.rbr import RankedReply, fit_weights, hinge_loss, pairwise_accuracy
from constitutional.train.rewards import PreferenceModelReward, reward_model_path

WEIGHTS_SCHEMA = "constitutional.rbr-weights/1"


def ranked(rows: list[dict], feats: list[list[float]], base: list[float], rules) -> list[RankedReply]:
    cats = {c.name: c for c in rules.categories}
    out = []
    for r, f, b in zip(rows, feats, base):
        cat = cats.get(r["category"])
        if cat is None:
            raise ConstitutionalError(f"labeled reply '{r['id']}' has category {r['category']!r}", field="category",
                                      hint=f"the rule set's categories: {', '.join(cats)}")
        tier = cat.tier(r["class"])
        if tier is None:
            raise ConstitutionalError(f"labeled reply '{r['id']}' has class {r['class']!r}", field="class",
                                      hint=f"category {cat.name} ranks {', '.join(c for t in cat.tiers for c in t)}")
        out.append(RankedReply(r["group"], cat.name, tier, b, tuple(f)))
    return out


def main(cfg: RunConfig) -> dict:
    c = cfg.rbr
    run, done = begin_stage(cfg, "rbr")
    if done is not None:
        return done
    out = run.stage_dir("rbr")
    rules = load_rules(c.rules)
    rows = labeled_replies(source=c.labeled)
    train_rows, eval_rows = [r for r in rows if r["split"] == "train"], [r for r in rows if r["split"] == "eval"]
    if not train_rows:
        raise ConstitutionalError("no labeled replies in the train split", file=c.labeled, field="rbr.labeled")
    run.mark("rbr", "running")
    t0 = time.time()
    grader_spec = c.grader or cfg.model
    grader = PropositionGrader(rules, cached_model(cfg, run, grader_spec), default_classifier())
    rm_path = reward_model_path(cfg, run, c.reward_model, required=False)
    console.print(f"[bold]rbr[/]: {len(rules.propositions)} propositions graded by {grader_spec}, "
                  f"{len(train_rows)} labeled replies to fit, {len(eval_rows)} to check, reward model: "
                  f"{rm_path or 'none (rules alone)'}")
    feats, base = [], []
    rm = PreferenceModelReward(rm_path, cfg.trust_remote_code) if rm_path else None
    chunk = max(cfg.batch_size // max(len(rules.propositions), 1), 1)
    with progress("grading labeled replies", len(rows)) as advance:
        for i in range(0, len(rows), chunk):
            part = rows[i : i + chunk]
            feats += grader.features([r["prompt"] for r in part], [r["reply"] for r in part])
            convs = [[{"role": "user", "content": r["prompt"]}] for r in part]
            base += rm(convs, [r["reply"] for r in part]) if rm else [0.0] * len(part)
            advance(len(part))
    with (out / "grades.jsonl").open("w", encoding="utf-8") as f:
        for r, phi, b in zip(rows, feats, base):
            f.write(json.dumps({"id": r["id"], "class": r["class"], "category": r["category"], "base": b,
                                **dict(zip(rules.names, phi))}) + "\n")
    idx = {r["id"]: k for k, r in enumerate(rows)}
    pick = lambda rs: ranked(rs, [feats[idx[r["id"]]] for r in rs], [base[idx[r["id"]]] for r in rs], rules)  # noqa: E731
    fit_set, check_set = pick(train_rows), pick(eval_rows)
    weights = fit_weights(fit_set, len(rules.names), c.margin, c.l2, c.fit_lr, c.fit_steps)
    zero = {k: w * 0 for k, w in weights.items()}
    # the grader's accuracy per proposition, on replies the fit never saw
    acc = PropositionGrader.measure_features(rules, [feats[idx[r["id"]]] for r in eval_rows], eval_rows)
    decider = classifier_for(cfg.constitution, cfg.decision.threshold, cfg.decision.c)
    groups = {r["group"]: r for r in rows}
    decided = [rules.category(d.restricted, d.principle).name
               for d in decider.decide([g["prompt"] for g in groups.values()])]
    agree = sum(a == g["category"] for a, g in zip(decided, groups.values())) / len(groups)
    fitted = {"schema": WEIGHTS_SCHEMA, "rules": rules.source, "propositions": rules.names,
              "weights": {k: [round(float(x), 6) for x in w] for k, w in weights.items()},
              "reward_model": str(rm_path) if rm_path else None, "grader": grader_spec, "grader_accuracy": acc,
              "margin": c.margin, "l2": c.l2}
    (out / "weights.json").write_text(json.dumps(fitted, indent=2), encoding="utf-8")
    table("Rule weights per category (fitted on the train split)", ["category", *rules.names],
          [[k, *(f"{x:+.3f}" for x in w)] for k, w in weights.items()])
    table(f"Grader accuracy per proposition (eval split, {len(eval_rows)} replies)", ["proposition", "grader",
          "accuracy", "base rate"], [[k, v["grader"], v["accuracy"], v["base_rate"]] for k, v in acc.items()])
    result = {
        "human labels (labeled replies fitted)": len(train_rows),
        "AI labels (proposition grades)": len(rows) * sum(p.grader == "model" for p in rules.propositions),
        "hinge loss, rules off -> fitted (train)": f"{hinge_loss(zero, fit_set, c.margin, 0):.4f} -> "
                                                   f"{hinge_loss(weights, fit_set, c.margin, 0):.4f}",
        "ranking accuracy, reward model alone (eval)": _round(pairwise_accuracy(zero, check_set)),
        "ranking accuracy, with rules (eval)": _round(pairwise_accuracy(weights, check_set)),
        "constitution's category = labeled category": round(agree, 4),
        "mean grader accuracy": _round(sum(v["accuracy"] for v in acc.values() if v["accuracy"] is not None)
                                       / max(sum(v["accuracy"] is not None for v in acc.values()), 1)),
        "seconds": round(time.time() - t0, 1), "weights": str(out / "weights.json"),
    }
    run.mark("rbr", "done", summary=result)
    summary("RBR summary", result)
    return result


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)
