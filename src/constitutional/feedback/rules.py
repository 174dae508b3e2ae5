"""Feedback that reads the constitution: which reply does what it asks.

The constitution's classifier (``constitutional.decision``) says whether the
request is one the constitution declines, with probability q; the refusal
classifier says whether each reply refuses. When exactly one reply refuses,
the label is q for that reply (the constitution asks for a refusal) and 1-q
for the other; in both orders alike, so it has no position bias. When both
replies refuse or both answer the rule has nothing to say, and the model
judge labels the pair with the constitution's comparison questions (or, with
no model judge, the label is 0.5).
"""

from __future__ import annotations

from collections.abc import Sequence

from constitutional.decision.classifier import ConstitutionClassifier
from constitutional.feedback.judge import JudgeSettings, Pair, score_pairs
from constitutional.models.base import Generator


def rule_labels(clf: ConstitutionClassifier, refusal, pairs: Sequence[Pair]) -> list[dict | None]:
    """A result (``p_a``, ``p_first``, ``scores``, ``questions``) per pair the rule decides, else None."""
    prompts = [next(m["content"] for m in reversed(p.messages) if m["role"] == "user") for p in pairs]
    decisions = clf.decide(prompts)
    ref_a = refusal.classify_many(prompts, [p.a for p in pairs])
    ref_b = refusal.classify_many(prompts, [p.b for p in pairs])
    out: list[dict | None] = []
    for d, ca, cb in zip(decisions, ref_a, ref_b):
        if (ca == "refuse") == (cb == "refuse"):
            out.append(None)
            continue
        p_a = d.p_restricted if ca == "refuse" else 1.0 - d.p_restricted
        out.append({"p_a": p_a, "p_first": 0.5, "scores": [[p_a, p_a]],
                    "questions": [f"constitution: {d.principle or 'permitted'} (q={d.p_restricted:.2f}); "
                                  f"replies: {ca} / {cb}"]})
    return out


def score_with_rules(model: Generator | None, clf: ConstitutionClassifier, refusal, pairs: Sequence[Pair],
                     questions: Sequence[Sequence[str]], settings: JudgeSettings, progress=None) -> list[dict]:
    """The rule's label where it decides, the model judge's elsewhere (0.5 without one)."""
    ruled = rule_labels(clf, refusal, pairs)
    rest = [i for i, r in enumerate(ruled) if r is None]
    if progress is not None:
        progress(2 * len(questions[0]) * (len(pairs) - len(rest)) if questions else 0)
    if model is not None and rest:
        for i, r in zip(rest, score_pairs(model, [pairs[i] for i in rest], [questions[i] for i in rest], settings,
                                          progress)):
            ruled[i] = {**r, "questions": [f"model judge: {q}" for q in r["questions"]]}
    return [r or {"p_a": 0.5, "p_first": 0.5, "scores": [[0.5, 0.5]], "questions": ["undecided"]} for r in ruled]
