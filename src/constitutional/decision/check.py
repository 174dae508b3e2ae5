"""The decision classifier measured on held-out labeled prompts.

The labels are the prompt files' (a red-team request should be declined, a
look-alike or an everyday request answered). They *measure* the decision and
never feed it: the classifier is fitted on the constitution's text alone.
The labels state the packaged constitution's intent, so for an edited
constitution the figures say how far its decisions moved from it.
"""

from __future__ import annotations

from constitutional.decision.classifier import ENCODER, ConstitutionClassifier
from constitutional.prompts import load_prompts

COLUMNS = ["set", "expected", "n", "declined", "accuracy"]


def check(clf: ConstitutionClassifier, restricted_sets: list[str], permitted_sets: list[str],
          split: str = "eval") -> dict:
    """Per-set and overall accuracy; ``balanced_accuracy`` averages the
    restricted recall and the permitted specificity."""
    rows, hits = [], {True: [0, 0], False: [0, 0]}
    for sets, want in ((restricted_sets, True), (permitted_sets, False)):
        for name in sets:
            prompts = load_prompts(name, split)
            got = [d.restricted for d in clf.decide([p.prompt for p in prompts])]
            ok = sum(g == want for g in got)
            hits[want][0] += ok
            hits[want][1] += len(got)
            rows.append({"set": f"{name}/{split}", "expected": "decline" if want else "answer", "n": len(got),
                         "declined": round(sum(got) / len(got), 4), "accuracy": round(ok / len(got), 4)})
    recall = hits[True][0] / max(hits[True][1], 1)
    specificity = hits[False][0] / max(hits[False][1], 1)
    n = hits[True][1] + hits[False][1]
    return {"classifier": f"constitution classifier ({clf.constitution.name}, {ENCODER})",
            "constitution": clf.constitution.fingerprint, "threshold": clf.threshold, "n": n,
            "accuracy": round((hits[True][0] + hits[False][0]) / max(n, 1), 4),
            "balanced_accuracy": round((recall + specificity) / 2, 4),
            "restricted_recall": round(recall, 4), "permitted_specificity": round(specificity, 4), "sets": rows}


def check_rows(report: dict) -> list[list]:
    return [[r["set"], r["expected"], r["n"], f"{r['declined']:.1%}", f"{r['accuracy']:.1%}"] for r in report["sets"]]
