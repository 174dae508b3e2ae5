"""Evaluation suites: which prompts each model answers, and how refusals count.

Packaged suites, all from *eval* splits, which no training stage reads:
- ``harmful``: red-team requests, balanced across their categories;
- ``helpful``: ordinary requests (answers feed the helpfulness Elo);
- ``benign``: prompts that only look dangerous ("How do I kill a Python
  process?"), from ``lookalike`` and ``borderline``: refusing them is over-refusal;
- ``jailbreak``: every jailbreak template wrapped around the same few harmful
  requests; a prompt's category is its template, so the report can give the
  attack success rate per template.
Users add their own suites from JSONL/CSV/Parquet with a ``kind``.

Limits pick prompts round-robin across categories after a seeded shuffle
within each, so "30 harmful prompts" covers every category, not the first one
in the file, and the same seed always picks the same prompts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from constitutional.core.config import EvalConfig
from constitutional.core.errors import ConstitutionalError
from constitutional.core.seeding import rng_for
from constitutional.core.yamlio import load_yaml, pydantic_error
from constitutional.prompts import PromptRecord, load_prompts

Kind = Literal["harmful", "benign", "helpful", "jailbreak"]
JAILBREAK_SCHEMA = "constitutional.jailbreaks/1"
EVAL_SPLIT = "eval"


@dataclass(frozen=True)
class Suite:
    """A named list of prompts of one kind; each prompt's ``category`` groups the report's tables.

    ``requests`` maps a prompt id to the plain request behind it where they
    differ (a jailbreak prompt -> the harmful request it wraps): the harm
    scorer grades the answer against the request, as HarmBench's classifier
    does, not against the attack's role-play.
    """

    name: str
    kind: Kind
    prompts: list[PromptRecord]
    requests: dict[str, str] = field(default_factory=dict)

    def request(self, p: PromptRecord) -> str:
        return self.requests.get(p.id, p.prompt)


class Template(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    name: str
    description: str
    template: str

    @field_validator("template")
    @classmethod
    def _one_slot(cls, v: str) -> str:
        if v.count("{behavior}") != 1:
            raise ValueError("must contain {behavior} exactly once (where the harmful request goes)")
        return v

    def apply(self, behavior: str) -> str:
        return self.template.replace("{behavior}", behavior).strip()


class JailbreakFile(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    schema_: Literal["constitutional.jailbreaks/1"] = Field(alias="schema")
    templates: list[Template] = Field(min_length=1)


def load_jailbreaks(name_or_path: str = "jailbreaks") -> list[Template]:
    """Templates from a packaged name or a YAML file; ids must be unique."""
    path = Path(name_or_path)
    if not path.suffix and not path.is_file():
        path = Path(str(resources.files("constitutional") / "data" / f"{name_or_path}.yaml"))
    data, lines = load_yaml(path)
    try:
        spec = JailbreakFile.model_validate(data if isinstance(data, dict) else {})
    except ValidationError as e:
        raise pydantic_error(e, path, lines) from None
    seen: set[str] = set()
    for i, t in enumerate(spec.templates):
        if t.id in seen:
            raise ConstitutionalError(f"duplicate template id {t.id!r}", file=path, line=lines.get(f"templates.{i}.id"),
                                      field=f"templates.{i}.id", hint="give each template its own id")
        seen.add(t.id)
    return spec.templates


def balanced(records: list[PromptRecord], n: int | None, seed: int, salt: str) -> list[PromptRecord]:
    """``n`` records taken round-robin across categories, each shuffled by a seeded rng.

    With categories a: [a1, a2, a3] and b: [b1], ``n=3`` gives one of a, b1,
    then another of a (categories in first-seen order).
    """
    if n is None or n >= len(records):
        return list(records)
    groups: dict[str, list[PromptRecord]] = {}
    for r in records:
        groups.setdefault(r.category, []).append(r)
    for cat, items in groups.items():
        rng_for(seed, salt, cat).shuffle(items)
    out: list[PromptRecord] = []
    while len(out) < n:
        for items in groups.values():
            if items and len(out) < n:
                out.append(items.pop(0))
    return out


def jailbreak_suite(templates: list[Template], behaviors: list[PromptRecord]) -> Suite:
    """Every template around every behavior: id ``jb/<template>/<behavior id>``, category = template id."""
    prompts = [PromptRecord(f"jb/{t.id}/{b.id}", ({"role": "user", "content": t.apply(b.prompt)},), t.id, EVAL_SPLIT)
               for t in templates for b in behaviors]
    requests = {f"jb/{t.id}/{b.id}": b.prompt for t in templates for b in behaviors}
    return Suite("jailbreak", "jailbreak", prompts, requests)


def _benign(sets: list[str], limit: int | None, seed: int) -> Suite:
    records: list[PromptRecord] = []
    seen: set[str] = set()
    for name in sets:
        for r in load_prompts(name, EVAL_SPLIT):
            if r.id in seen:  # two files may number their ids alike
                r = PromptRecord(f"{name}/{r.id}", r.messages, r.category, r.split)
            seen.add(r.id)
            records.append(r)
    return Suite("benign", "benign", balanced(records, limit, seed, "benign"))


def default_suites(cfg: EvalConfig, seed: int = 0) -> list[Suite]:
    """The packaged suites (eval splits only) followed by the user's own."""
    harmful_all = load_prompts(cfg.harmful_prompts, EVAL_SPLIT)
    suites = [Suite("harmful", "harmful", balanced(harmful_all, cfg.harmful_limit, seed, "harmful")),
              Suite("helpful", "helpful",
                    balanced(load_prompts(cfg.helpful_prompts, EVAL_SPLIT), cfg.helpful_limit, seed, "helpful"))]
    if cfg.benign_prompts:
        suites.append(_benign(cfg.benign_prompts, cfg.benign_limit, seed))
    if cfg.jailbreak_behaviors:
        behaviors = balanced(harmful_all, cfg.jailbreak_behaviors, seed, "jailbreak")
        suites.append(jailbreak_suite(load_jailbreaks(cfg.jailbreaks), behaviors))
    names = {s.name for s in suites}
    for i, user in enumerate(cfg.suites):
        if user.name in names:
            raise ConstitutionalError(f"suite name {user.name!r} is taken", field=f"eval.suites.{i}.name",
                                      hint="pick a name other than " + ", ".join(sorted(names)))
        names.add(user.name)
        suites.append(Suite(user.name, user.kind, load_prompts(user.path, user.split, user.limit)))
    return suites
