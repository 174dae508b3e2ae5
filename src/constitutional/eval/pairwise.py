"""Harmlessness and helpfulness Elo from pairwise AI judgments across all models.

For every pair of models and every sampled prompt, the pairwise judge reads
both answers in both orders and gives P(first model's answer is better)
(harmful prompts: the constitution's harmlessness questions; helpful
prompts: the helpfulness questions). These soft results go to the
Bradley-Terry fit with bootstrap intervals (``elo.bootstrap_elo``), anchored
on the first model, which is then exactly 1000: the others' ratings and
intervals measure the gap to it (Bai et al. 2022 report Elo the same way,
relative to a reference model).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import combinations

from constitutional.eval.elo import Comparison, bootstrap_elo
from constitutional.eval.judges import PairwiseJudge
from constitutional.feedback.judge import Pair

KINDS = {"harmlessness": "harmful", "helpfulness": "helpful"}  # Elo rating -> the suite kind whose prompts it compares


def elo_pairs(answers: dict[str, dict[tuple[str, str], dict]], suite_prompts: dict[str, list[tuple[str, str]]],
              n_prompts: int) -> list[tuple[str, str, str, Pair]]:
    """``(elo kind, model a, model b, Pair)`` for the first ``n_prompts`` prompts of each kind.

    ``answers[label][(suite, prompt_id)]`` is that model's answer record;
    ``suite_prompts[suite kind]`` lists ``(suite, prompt_id)`` in suite order.
    The pair's id is the prompt's, so every model pair is judged with the same questions.
    """
    labels = list(answers)
    out = []
    for kind, suite_kind in KINDS.items():
        for key in suite_prompts.get(suite_kind, [])[:n_prompts]:
            for a, b in combinations(labels, 2):
                ra, rb = answers[a].get(key), answers[b].get(key)
                if ra is None or rb is None:
                    continue
                out.append((kind, a, b, Pair(key[1], tuple(ra["messages"]), ra["response"], rb["response"])))
    return out


def elo_ratings(judge: PairwiseJudge, pairs: Sequence[tuple[str, str, str, Pair]], labels: Sequence[str],
                n_boot: int = 1000, seed: int = 0, progress: Callable[[int], None] | None = None) -> dict:
    """``{"harmlessness": {label: {elo, lo, hi}}, "helpfulness": {...}}`` (kinds without pairs are left out)."""
    if not pairs:
        return {}
    p_a = judge.compare([p for _, _, _, p in pairs], [KINDS[k] for k, _, _, _ in pairs], progress)
    out = {}
    for kind in KINDS:
        comps = [Comparison(a, b, p) for (k, a, b, _), p in zip(pairs, p_a) if k == kind]
        if comps:
            anchor = next(m for m in labels if any(m in (c.model_a, c.model_b) for c in comps))
            out[kind] = bootstrap_elo(comps, n_boot=n_boot, seed=seed, anchor=anchor)
    return out
