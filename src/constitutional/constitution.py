"""Constitutions: a named, validated list of principles, and seeded sampling.

A principle carries the three texts the method needs:
- ``critique``: the critique request of SL-CAI (Bai et al. 2022, sec. 3.1);
- ``revision``: the matching revision request;
- ``comparison``: the multiple-choice question of RL-CAI feedback (sec. 4.1).

Schema 2 lets the constitution itself decide what is declined, after
Anthropic's Constitutional Classifiers (2025). A principle that *restricts*
a kind of request adds:
- ``restricts``: the requests it covers, in one plain sentence;
- ``concern``: why, completing "I can't help with that, because it could ...";
- ``help``: where to turn, completing "I'd suggest talking to ...";
- ``examples``: requests it applies to, and ``lookalikes``: requests that
  sound like them but that it permits.
A top-level ``permitted`` list names what is explicitly allowed, with
examples. ``constitutional.decision`` trains its classifier on these texts
alone, so editing them changes what a run declines.

The file format is YAML, tagged ``schema: constitutional.constitution/2``;
version-1 files (no restriction fields) still load.
Packaged sets live in ``constitutional/constitutions`` and are addressed by
name (``cai-2022``); anything else is a path.
"""

from __future__ import annotations

import hashlib
import random
import re
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from constitutional.core.errors import ConstitutionalError
from constitutional.core.yamlio import line_of, load_yaml, pydantic_error

SCHEMA = "constitutional.constitution/2"
SCHEMAS = ("constitutional.constitution/1", SCHEMA)
V2_FIELDS = ("restricts", "concern", "help", "examples", "lookalikes")
SOURCES = ("human-rights", "terms-of-service", "non-western", "sparrow-rules", "lab-research", "custom")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class Principle(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="unique kebab-case slug")
    source: Literal[SOURCES] = Field(description="where the principle comes from")  # type: ignore[valid-type]
    critique: str = Field(min_length=10, description="critique request (SL-CAI)")
    revision: str = Field(min_length=10, description="revision request (SL-CAI)")
    comparison: str = Field(min_length=10, description="comparison question (RL-CAI feedback)")
    restricts: str = Field("", description="schema 2: the requests this principle declines, in one sentence")
    concern: str = Field("", description="schema 2: completes \"I can't help with that, because it could ...\"")
    help: str = Field("", description="schema 2: completes \"I'd suggest talking to ...\"")
    examples: list[str] = Field([], description="schema 2: requests this principle applies to")
    lookalikes: list[str] = Field([], description="schema 2: requests that sound alike but are permitted")

    @field_validator("critique", "revision", "comparison")
    @classmethod
    def _text(cls, v: str) -> str:
        if len(v.strip()) < 10:
            raise ValueError("needs at least 10 characters of text, not just spaces")
        return v

    @field_validator("id")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError("must be a kebab-case slug such as 'harmful-content'")
        return v

    @model_validator(mode="after")
    def _restriction_complete(self) -> Principle:
        given = [f for f in V2_FIELDS if getattr(self, f) and f != "lookalikes"]
        if given and len(given) < 4:
            missing = [f for f in ("restricts", "concern", "help", "examples") if f not in given]
            raise ValueError(f"a restricting principle needs restricts, concern, help and examples; missing "
                             f"{', '.join(missing)}")
        if self.examples and len(self.examples) < 3:
            raise ValueError("give a restricting principle at least 3 examples (a classifier learns from them)")
        return self

    @property
    def restricting(self) -> bool:
        return bool(self.examples)


class Permitted(BaseModel):
    """Schema 2: a kind of request the constitution explicitly allows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="unique kebab-case slug")
    covers: str = Field(min_length=3, description="what is permitted, in one sentence")
    examples: list[str] = Field(min_length=1, description="requests it allows")


class Constitution(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_: Literal[SCHEMAS] = Field(alias="schema")  # type: ignore[valid-type]
    name: str
    description: str = ""
    principles: list[Principle] = Field(min_length=1)
    permitted: list[Permitted] = []

    @model_validator(mode="after")
    def _unique_ids(self) -> Constitution:
        seen: set[str] = set()
        for i, p in enumerate(self.principles):
            if p.id in seen:
                raise ValueError(f"duplicate principle id '{p.id}' (principle {i})")
            seen.add(p.id)
        return self

    @cached_property
    def fingerprint(self) -> str:
        """Short hash of the content: records carry it, so an edited
        constitution never passes for the one that produced a dataset."""
        return hashlib.sha256(self.model_dump_json(by_alias=True).encode()).hexdigest()[:16]

    @cached_property
    def by_id(self) -> dict[str, Principle]:
        return {p.id: p for p in self.principles}

    @property
    def restricting(self) -> list[Principle]:
        """The principles that decline a kind of request (schema 2)."""
        return [p for p in self.principles if p.restricting]

    def sample(self, rng: random.Random) -> Principle:
        """One principle, uniformly. Callers pass an rng seeded per (prompt, round),
        so each critique round draws independently and reruns draw the same."""
        return rng.choice(self.principles)

    def sources(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.principles:
            out[p.source] = out.get(p.source, 0) + 1
        return out


def require_restrictions(c: Constitution, source: str | Path) -> None:
    """The decision classifier needs schema 2's restriction fields; say how to add them."""
    if not c.restricting:
        raise ConstitutionalError(
            f"constitution '{c.name}' names no restricted requests, so nothing can be decided from it",
            file=source, field="principles",
            hint=f"upgrade it: set 'schema: {SCHEMA}' and give the principles that decline something restricts, "
            "concern, help, examples and lookalikes (see `constitutional constitution show cai-2022`)")


def packaged_names() -> list[str]:
    root = resources.files("constitutional") / "constitutions"
    return sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))


def resolve(name_or_path: str | Path) -> Path:
    """A path to a YAML file, or a packaged constitution name. A file that exists wins: a local ``broad`` is
    never shadowed by the packaged set of that name."""
    s = str(name_or_path)
    path = Path(s)
    if path.is_file():
        return path
    if s in packaged_names():
        return Path(str(resources.files("constitutional") / "constitutions" / f"{s}.yaml"))
    if not path.is_file():
        raise ConstitutionalError(
            f"no constitution named '{s}'",
            hint=f"use a packaged one ({', '.join(packaged_names())}) or a path to a YAML file",
        )
    return path


def load_constitution(name_or_path: str | Path) -> Constitution:
    path = resolve(name_or_path)
    data, lines = load_yaml(path)
    if not isinstance(data, dict):
        raise ConstitutionalError("a constitution must be a YAML mapping", file=path, line=1,
                                  hint="start from `constitutional init` or a packaged constitution")
    if data.get("schema") not in SCHEMAS:
        raise ConstitutionalError(
            f"unknown schema {data.get('schema')!r}", file=path, line=line_of(lines, ("schema",)), field="schema",
            hint=f"the first line should be 'schema: {SCHEMA}'",
        )
    if not isinstance(data.get("principles", []), list):
        raise ConstitutionalError("must be a list of principles", file=path, line=line_of(lines, ("principles",)),
                                  field="principles", hint="write each principle as '- id: ...' under 'principles:'")
    if data["schema"] == SCHEMAS[0]:
        for i, p in enumerate(data.get("principles") or []):
            extra = [f for f in V2_FIELDS if isinstance(p, dict) and f in p]
            if extra or "permitted" in data:
                where = ("permitted",) if not extra else ("principles", i, extra[0])
                raise ConstitutionalError(
                    f"'{where[-1]}' is a schema-2 field", file=path, line=line_of(lines, where),
                    field=".".join(map(str, where)), hint=f"change the first line to 'schema: {SCHEMA}'")
    seen: dict[str, int] = {}
    for i, p in enumerate(data.get("principles") or []):
        pid = p.get("id") if isinstance(p, dict) else None
        if not isinstance(pid, str):
            continue  # a missing or non-text id is the schema's to report
        if pid in seen:
            raise ConstitutionalError(
                f"duplicate principle id '{pid}' (first used by principle {seen[pid]})", file=path,
                line=line_of(lines, ("principles", i, "id")), field=f"principles.{i}.id",
                hint="give each principle its own id",
            )
        seen[pid] = i
    try:
        return Constitution.model_validate(data)
    except ValidationError as e:
        raise pydantic_error(e, path, lines) from None
