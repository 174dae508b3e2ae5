"""Self-Critique at inference time (Self-Refine, Madaan et al. 2023) as a
model spec: ``refine:SPEC?rounds=2``.

Around any model spec, each reply is drafted, then up to ``rounds`` times
critiqued and revised by the same model under a principle of the
constitution: the principle its classifier says restricts the request, else
one of its general principles (seeded by the conversation). The loop stops
for a reply when the critique says nothing needs to change ("No changes
needed") or the revision comes back empty or unchanged. Nothing is trained;
the cost is latency, which the evaluation measures like any model's.

Options after ``?``: ``rounds`` (1-4, default 1), ``constitution`` (packaged
name or path, default cai-2022), ``tokens`` (max new tokens of a critique,
default 96). ``option_probs`` is the inner model's: a judge is not refined.
Because it is a ``Generator``, eval, calibrate and ``serve`` take it as they
take any model; it is found through the ``constitutional.backends`` entry
point, so the model layer does not import this one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import parse_qs

from constitutional.constitution import load_constitution, resolve
from constitutional.core.errors import ConstitutionalError
from constitutional.core.runs import file_hash
from constitutional.core.seeding import rng_for
from constitutional.decision import classifier_for
from constitutional.feedback.revision_quality import clean_revision
from constitutional.models import SamplingParams
from constitutional.models.registry import load_generator, model_identity

STOP_RE = re.compile(r"\bno (changes?|revisions?|edits?) (are |is )?(needed|necessary|required)\b", re.I)
STOP_HINT = " If the reply already follows this and nothing needs to change, answer only: No changes needed."
DEFAULTS = {"rounds": 1, "constitution": "cai-2022", "tokens": 96}


def parse_options(location: str) -> tuple[str, dict]:
    """``"smollm2-135m?rounds=2" -> ("smollm2-135m", {"rounds": 2, "constitution": "cai-2022", "tokens": 96})``"""
    inner, _, query = location.rpartition("?") if "?" in location else (location, "", "")
    opts = dict(DEFAULTS)
    for key, values in parse_qs(query, keep_blank_values=True).items():
        if key not in DEFAULTS:
            raise ConstitutionalError(f"unknown refine option '{key}'", field="model",
                                      hint=f"refine:SPEC?rounds=2&constitution=cai-2022&tokens=96 ({', '.join(DEFAULTS)})")
        value = values[-1]
        if key in ("rounds", "tokens"):
            if not value.isdigit() or not (1 <= int(value) <= (4 if key == "rounds" else 1024)):
                raise ConstitutionalError(f"refine option {key}={value!r} is out of range", field="model",
                                          hint="rounds is 1-4, tokens 1-1024")
            opts[key] = int(value)
        else:
            opts[key] = value
    if not inner:
        raise ConstitutionalError("refine needs a model to wrap", field="model", hint="refine:smollm2-135m?rounds=2")
    return inner, opts


class RefineGenerator:
    """Draft, then critique and revise up to ``rounds`` times (see the module doc)."""

    def __init__(self, inner, constitution: str, rounds: int, critique_tokens: int, spec: str):
        self.inner, self.rounds, self.critique_tokens = inner, rounds, critique_tokens
        self.constitution = load_constitution(constitution)
        self.decider = classifier_for(constitution, 0.5, 1.0)
        self.general = [p for p in self.constitution.principles if not p.restricts] or list(self.constitution.principles)
        self.name = spec
        self.last_rounds: list[int] = []  # rounds each reply of the last call took (for the latency table)

    def __getattr__(self, name):  # tokenizer, encode, batch_size...: what `serve` reads from a local generator
        return getattr(self.inner, name)

    def principle_for(self, conv) -> object:
        text = next((m["content"] for m in reversed(conv) if m["role"] == "user"), "")
        d = self.decider.decide([text])[0]
        if d.restricted and d.principle in self.constitution.by_id:
            return self.constitution.by_id[d.principle]
        return rng_for("refine", text).choice(self.general)

    def generate(self, conversations: Sequence, params: SamplingParams, progress=None) -> list[str]:
        convs = [list(c) for c in conversations]
        current = self.inner.generate(convs, params)
        principles = [self.principle_for(c) for c in convs]
        crit_params = SamplingParams(max_new_tokens=self.critique_tokens, temperature=0.0, seed=params.seed)
        active = list(range(len(convs)))
        rounds = [0] * len(convs)
        for _ in range(self.rounds):
            if not active:
                break
            crit_convs = [convs[i] + [{"role": "assistant", "content": current[i]},
                                      {"role": "user", "content": principles[i].critique + STOP_HINT}] for i in active]
            critiques = self.inner.generate(crit_convs, crit_params)
            go = [(i, conv, c) for i, conv, c in zip(active, crit_convs, critiques) if not STOP_RE.search(c)]
            if not go:
                break
            rev_convs = [conv + [{"role": "assistant", "content": c},
                                 {"role": "user", "content": principles[i].revision}] for i, conv, c in go]
            revisions = self.inner.generate(rev_convs, params)
            still = []
            for (i, _, _), raw in zip(go, revisions):
                rev = clean_revision(raw)
                rounds[i] += 1
                if rev.strip() and rev.strip() != current[i].strip():
                    current[i] = rev
                    still.append(i)
            active = still
        self.last_rounds = rounds
        if progress:
            progress(len(convs))
        return current

    def option_probs(self, conversations, options):
        return self.inner.option_probs(conversations, options)


class _Backend:
    """The ``refine`` entry of the ``constitutional.backends`` entry-point group."""

    def load(self, location: str, **kw) -> RefineGenerator:
        inner_spec, opts = parse_options(location)
        if inner_spec.startswith("refine:"):
            raise ConstitutionalError("refine inside refine", field="model", hint="raise rounds instead")
        inner = load_generator(inner_spec, **kw)
        return RefineGenerator(inner, opts["constitution"], opts["rounds"], opts["tokens"], f"refine:{location}")

    def identity(self, location: str) -> str:
        inner_spec, opts = parse_options(location)
        text = file_hash(resolve(opts["constitution"]))[:16]  # by content: an edited constitution is a new model
        return f"refine[{opts['rounds']},{text},{opts['tokens']}]:{model_identity(inner_spec)}"

    def check(self, location: str) -> None:
        parse_options(location)


BACKEND = _Backend()
