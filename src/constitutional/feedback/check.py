"""How good is a feedback model? Accuracy, position bias and calibration on
the packaged labeled preference pairs (``data/judge_pairs.jsonl``: harmful-prompt
and helpful pairs written for the project, each scored in both orders).

The feedback stage runs this with its own settings before labeling, and every
label record carries the result: an AI label is only as good as its judge.
"""

from __future__ import annotations

from constitutional.constitution import Constitution, load_constitution
from constitutional.core.config import FeedbackConfig
from constitutional.core.seeding import rng_for
from constitutional.feedback.judge import JudgeSettings, Pair, agreement, load_shots, score_pairs
from constitutional.prompts import load_preferences

LABELED_SET = "judge_pairs"


def settings_for(f: FeedbackConfig, seed: int) -> JudgeSettings:
    return JudgeSettings(k=f.principles, shots=load_shots()[: f.fewshot], cot=f.cot,
                         clamp=tuple(f.cot_clamp) if f.cot else None,
                         cot_tokens=f.cot_tokens, seed=seed)


def questions_for(kind: str, pair_id: str, harmless: Constitution, helpful: Constitution, k: int,
                  seed: int) -> list[str]:
    """``k`` distinct comparison questions, drawn per pair (seeded by its id)."""
    con = helpful if kind == "helpful" else harmless
    picked = rng_for(seed, pair_id, "questions").sample(con.principles, min(k, len(con.principles)))
    return [p.comparison for p in picked]


def labeled_pairs(limit: int | None = None) -> list:
    """The labeled pairs, or ``limit`` of them alternating between kinds (the
    file lists every harmful-prompt pair before the helpful ones, so its first 24
    would measure the judge on harmlessness only)."""
    prefs = load_preferences(LABELED_SET)
    if limit is None or limit >= len(prefs):
        return prefs
    kinds: dict[str, list] = {}
    for p in prefs:
        kinds.setdefault(p.kind, []).append(p)
    out: list = []
    while len(out) < limit:
        out += [q.pop(0) for q in kinds.values() if q][: limit - len(out)]
    return out


def check_calls(f: FeedbackConfig, limit: int | None = None) -> int:
    """Model calls a judge check makes (for progress bars)."""
    return len(labeled_pairs(limit)) * f.principles * 2 * (1 + f.cot)


def scorer(f: FeedbackConfig, clf):
    """The labeling function ``(model, pairs, questions, settings, progress) -> results`` that
    ``feedback.judge`` names: the constitution's rule with the model judge behind it, or the model alone."""
    if f.judge == "model":
        return score_pairs
    from constitutional.feedback.rules import score_with_rules
    from constitutional.refusal import default_classifier

    refusal = default_classifier()
    return lambda model, pairs, qs, settings, progress=None: score_with_rules(model, clf, refusal, pairs, qs,
                                                                             settings, progress)


def judge_name(f: FeedbackConfig, model_name: str) -> str:
    return f"constitution classifier + refusal classifier, then {model_name}" if f.judge == "constitution" \
        else model_name


def judge_check(model, f: FeedbackConfig, constitution: str, seed: int = 0, limit: int | None = None,
                progress=None, clf=None) -> dict:
    """The judge on the packaged labeled pairs; ``constitution`` is the run's (``f.constitution`` overrides it),
    ``clf`` its classifier (needed when ``f.judge`` is "constitution")."""
    prefs = labeled_pairs(limit)
    constitution = f.constitution or constitution
    harmless, helpful = load_constitution(constitution), load_constitution(f.helpful_constitution)
    settings = settings_for(f, seed)
    pairs = [Pair(p.id, p.messages, p.chosen, p.rejected) for p in prefs]
    qs = [questions_for(p.kind, p.id, harmless, helpful, settings.k, seed) for p in prefs]
    results = scorer(f, clf)(model, pairs, qs, settings, progress)
    out = {"judge": judge_name(f, model.name), "labeled_set": f"{LABELED_SET} ({len(prefs)} pairs, both orders)",
           **agreement(results, [1.0] * len(results)),
           "by_kind": {kind: agreement([r for r, p in zip(results, prefs) if p.kind == kind],
                                       [1.0] * sum(p.kind == kind for p in prefs))
                       for kind in sorted({p.kind for p in prefs})},
           "settings": {"principles": settings.k, "fewshot": len(settings.shots), "cot": settings.cot,
                        "clamp": settings.clamp, "constitution": constitution,
                        "helpful_constitution": f.helpful_constitution}}
    return out


def check_rows(check: dict) -> list[tuple]:
    rows = [("all", check["n"], check["accuracy"], check["accuracy_one_order"], check["position_bias"],
             check["ece"], check["brier"])]
    for kind, a in check["by_kind"].items():
        rows.append((kind, a["n"], a["accuracy"], a["accuracy_one_order"], a["position_bias"], a["ece"], a["brier"]))
    return rows


CHECK_COLUMNS = ["pairs", "n", "accuracy (both orders)", "accuracy (one order)", "position bias", "ECE", "Brier"]
