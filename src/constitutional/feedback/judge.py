"""AI feedback: which of two replies better fits a principle, read from the
judge's next-token probabilities (Bai et al. 2022, sec. 4.1).

The judge sees the conversation, one comparison question, the two replies as
options (A) and (B), and an assistant turn that begins "The answer is: (".
The probabilities of the next token being "A" or "B", normalized, are the
soft label; one forward pass scores both options (``option_probs``), nothing
is generated and parsed back.

Every pair is scored in both orders and averaged: a judge that likes the
first slot gives P(A)=0.7 in both orders, which averages to a neutral 0.5
instead of a confident wrong label. The mean P(first slot) - 0.5 over all
scorings is the judge's position bias, reported wherever labels are.

Options on top of that: an ensemble of ``k`` comparison questions per pair,
few-shot demonstrations as earlier chat turns, and chain of thought (the
judge writes its reasoning first, then the letter is read; the paper clamps
such labels to [0.4, 0.6] because reasoning makes them overconfident).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from constitutional.core.errors import ConstitutionalError
from constitutional.models.base import Conversation, Generator, SamplingParams
from constitutional.prompts import packaged_path, read_rows

OPTIONS = ("A", "B")
ANSWER_PREFIX = "The answer is: ("
COT_PREFIX = "Let's think step by step:"


@dataclass(frozen=True)
class Pair:
    """Two candidate replies to the same conversation."""

    id: str
    messages: tuple[dict, ...]  # the conversation the replies answer (ends with a user turn)
    a: str
    b: str


@dataclass(frozen=True)
class Shot:
    """A worked judgment shown to the judge before the real one."""

    prompt: str
    first: str
    second: str
    question: str
    reasoning: str
    answer: str


@dataclass
class JudgeSettings:
    k: int = 1                      # comparison questions per pair (ensemble)
    shots: list[Shot] = field(default_factory=list)
    cot: bool = False
    clamp: tuple[float, float] | None = None  # applied to the final label; (0.4, 0.6) with cot
    cot_tokens: int = 96
    seed: int = 0


def load_shots(name_or_path: str = "feedback_fewshot") -> list[Shot]:
    path = Path(name_or_path) if Path(name_or_path).is_file() or Path(name_or_path).suffix else packaged_path(name_or_path)
    if not path.is_file():
        raise ConstitutionalError("feedback few-shot file not found", file=path)
    out = []
    for n, d in read_rows(path):  # malformed JSON is reported with its line by the shared reader
        try:
            out.append(Shot(d["prompt"], d["first"], d["second"], d["question"], d["reasoning"], d["answer"]))
        except KeyError as e:
            raise ConstitutionalError("missing field", file=path, line=n, field=e.args[0],
                                      hint="each line needs prompt, first, second, question, reasoning, answer") from None
    return out


def _transcript(messages: Sequence[dict]) -> str:
    names = {"user": "Human", "assistant": "Assistant", "system": "System"}
    return "\n\n".join(f"{names.get(m['role'], m['role'])}: {m['content']}" for m in messages)


def question_text(messages: Sequence[dict], question: str, first: str, second: str) -> str:
    return (f"Consider the following conversation between a human and an assistant:\n\n{_transcript(messages)}\n\n"
            f"{question}\nOptions:\n(A) {first}\n(B) {second}")


def shot_turns(shots: Sequence[Shot], cot: bool) -> list[dict]:
    turns = []
    for s in shots:
        answer = f"{COT_PREFIX} {s.reasoning}\n{ANSWER_PREFIX}{s.answer})" if cot else f"{ANSWER_PREFIX}{s.answer})"
        turns += [{"role": "user", "content": question_text([{"role": "user", "content": s.prompt}], s.question,
                                                            s.first, s.second)},
                  {"role": "assistant", "content": answer}]
    return turns


def judge_conversation(pair: Pair, question: str, swapped: bool, settings: JudgeSettings,
                       reasoning: str | None = None) -> Conversation:
    """The judge's prompt; with ``reasoning`` (chain of thought) the answer
    prefix follows the judge's own reasoning."""
    first, second = (pair.b, pair.a) if swapped else (pair.a, pair.b)
    conv = shot_turns(settings.shots, settings.cot) + [
        {"role": "user", "content": question_text(pair.messages, question, first, second)}]
    if settings.cot and reasoning is None:
        return conv + [{"role": "assistant", "content": COT_PREFIX}]
    prefix = f"{COT_PREFIX} {reasoning.strip()}\n{ANSWER_PREFIX}" if settings.cot else ANSWER_PREFIX
    return conv + [{"role": "assistant", "content": prefix}]


def score_pairs(model: Generator, pairs: Sequence[Pair], questions: Sequence[Sequence[str]],
                settings: JudgeSettings, progress=None) -> list[dict]:
    """Soft labels P(a better than b), one per pair, averaged over both orders
    and over the pair's questions. ``questions[i]`` are pair i's comparison
    questions (the caller samples them). Returns, per pair: ``p_a`` (the
    label), ``p_first`` (mean probability given to slot A: position bias) and
    ``scores`` (per question: P(a) with a shown first, and with a second)."""
    if len(questions) != len(pairs):
        raise ValueError("one list of questions per pair")
    jobs = [(i, q, swapped) for i, qs in enumerate(questions) for q in qs for swapped in (False, True)]
    reasoning: list[str | None] = [None] * len(jobs)
    if settings.cot:
        params = SamplingParams(max_new_tokens=settings.cot_tokens, temperature=0.0, stop=("The answer is",))
        reasoning = list(model.generate([judge_conversation(pairs[i], q, s, settings) for i, q, s in jobs],
                                        params, **({"progress": progress} if progress else {})))
    convs = [judge_conversation(pairs[i], q, s, settings, r) for (i, q, s), r in zip(jobs, reasoning)]
    probs = model.option_probs(convs, OPTIONS, **({"progress": progress} if progress else {}))
    per_pair: list[list[tuple[float, float]]] = [[] for _ in pairs]
    for (i, _q, swapped), (pa, pb), _r in zip(jobs, probs, reasoning):
        per_pair[i].append((pb if swapped else pa, pa))  # (P(pair.a wins), P(slot A))
    out = []
    for i, scored in enumerate(per_pair):
        p_a = sum(s[0] for s in scored) / len(scored)
        if settings.clamp:
            p_a = min(max(p_a, settings.clamp[0]), settings.clamp[1])
        out.append({"p_a": p_a, "p_first": sum(s[1] for s in scored) / len(scored),
                    "scores": [[scored[j][0], scored[j + 1][0]] for j in range(0, len(scored), 2)],
                    "questions": list(questions[i])})
    return out


def position_bias(results: Sequence[dict]) -> float:
    """Mean P(slot A) - 0.5 over every scoring: 0 is unbiased, +0.5 always says (A)."""
    return sum(r["p_first"] for r in results) / max(len(results), 1) - 0.5


def agreement(results: Sequence[dict], targets: Sequence[float]) -> dict:
    """Accuracy, calibration and bias of soft labels against known
    preferences (target 1.0 means a is better). A label of exactly 0.5 counts
    as half right. ECE over 5 confidence bins of the debiased label."""
    n = len(results)
    if n == 0:
        return {"n": 0}
    hit = lambda p, t: 0.5 if p == 0.5 else float((p > 0.5) == (t > 0.5))  # noqa: E731
    acc = sum(hit(r["p_a"], t) for r, t in zip(results, targets)) / n
    first_only = sum(hit(r["scores"][0][0], t) for r, t in zip(results, targets)) / n
    bins: list[list[tuple[float, float]]] = [[] for _ in range(5)]
    for r, t in zip(results, targets):
        conf = max(r["p_a"], 1 - r["p_a"])
        bins[min(int((conf - 0.5) * 10), 4)].append((conf, hit(r["p_a"], t)))
    ece = sum(len(b) / n * abs(sum(c for c, _ in b) / len(b) - sum(h for _, h in b) / len(b)) for b in bins if b)
    brier = sum((r["p_a"] - t) ** 2 for r, t in zip(results, targets)) / n
    return {"n": n, "accuracy": round(acc, 4), "accuracy_one_order": round(first_only, 4),
            "position_bias": round(position_bias(results), 4), "ece": round(ece, 4), "brier": round(brier, 4),
            "reliability": [{"confidence": round(sum(c for c, _ in b) / len(b), 3),
                             "accuracy": round(sum(h for _, h in b) / len(b), 3), "n": len(b)} for b in bins if b]}
