"""The guard's policy: one YAML file, tagged ``schema: constitutional.guard/1``.

It names the constitution whose principles are the harm categories, the model
behind the guard, and what each kind of request gets:
- ``block``: the client gets a refusal built from the principle's ``concern``
  and ``help``, and the upstream is never called (input rail) or its reply is
  withheld (output rail);
- ``allow``; ``disclaim``: answered, with the policy's disclaimer first;
- ``flag``: answered, and the audit row is marked for human review;
- ``revise`` (output rail only): the reply is critiqued and revised through
  the upstream under the principle's own critique and revision requests, and
  checked again; a revision that still fails is blocked.

A rail that errors, times out or returns nothing usable closes the request
(``on_error: block``); ``on_error: allow`` must be written for that rail, and
every bypass is logged at CRITICAL and in the audit row. There is no default
bypass. Packaged policies are addressed by name (``default``); anything
else is a path.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator

from constitutional.core.config import Section
from constitutional.core.errors import ConstitutionalError
from constitutional.core.yamlio import line_of, load_yaml, pydantic_error

SCHEMA = "constitutional.guard/1"
Action = Literal["block", "allow", "disclaim", "flag"]
OnError = Literal["block", "allow"]


class PatternRule(Section):
    pattern: str = Field(description="a regular expression searched in every user message (case-insensitive)")
    category: str = Field(min_length=1, description="the category the audit log and metrics record for a match")
    action: Action = Field("block", description="what a match gets")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as e:
            raise ValueError(f"not a valid regular expression: {e}") from None
        return v


class InputRail(Section):
    enabled: bool = Field(True, description="check requests before the upstream is called")
    threshold: float = Field(0.5, gt=0, lt=1, description="the constitution's classifier at or above this: the "
                             "principle's action (0.5: the decision the training pipeline uses)")
    review_above: float = Field(0.45, gt=0, lt=1, description="between this and threshold: the gray action; below "
                                "it the output rail trusts the request (the pipeline's distill.answer_below)")
    patterns: list[PatternRule] = Field([], description="pattern rules, checked before the classifier")
    on_error: OnError = Field("block", description="a failing rail closes the request; allow must be explicit")


class OutputRail(Section):
    enabled: bool = Field(True, description="check every reply before the client sees it")
    threshold: float = Field(0.6, gt=0, lt=1, description="the classifier on the exchange at or above this (and the "
                             "reply not a refusal): the reply fails (0.6: the pipeline's distill.refuse_above; at 0.5 "
                             "it blocked 16 % of the answers to benign look-alikes, docs/guard.md)")
    action: Literal["block", "revise", "flag"] = Field("block", description="what a failing reply gets (a stream "
                                                       "that fails is halted: what was released had passed)")
    on_error: OnError = Field("block", description="a failing rail closes the request; allow must be explicit")


class Actions(Section):
    restricted: Action = Field("block", description="a request a restricting principle covers")
    gray: Action = Field("flag", description="a request in the gray band (review_above to threshold)")
    by_principle: dict[str, Action] = Field({}, description="per-principle exceptions, by principle id")


class StreamSettings(Section):
    window_chars: int = Field(64, ge=1, le=4096, description="streamed text is released in checked steps of this "
                              "many characters (larger: fewer rail calls, later first token)")


class AuditSettings(Section):
    url: str = Field("sqlite:///runs/guard/audit.sqlite", description="SQLAlchemy URL of the audit log (SQLite file "
                     "or postgresql+psycopg://...)")
    retention_days: float = Field(30, gt=0, description="rows older than this are purged at start and hourly")
    redact_pii: bool = Field(False, description="replace e-mail addresses, phone, card and ID numbers before storage")
    key_env: str = Field("CONSTITUTIONAL_AUDIT_KEY", description="environment variable with a secret that keys the "
                         "hash chain (HMAC); without it the chain is plain SHA-256")


class ApiKey(Section):
    name: str = Field(min_length=1, description="who the key belongs to (logged; the key never is)")
    sha256: str = Field(description="SHA-256 of the key, hex (`constitutional guard key NAME` prints it)")
    rate_per_minute: int = Field(60, ge=1, description="requests per minute for this key")

    @field_validator("sha256")
    @classmethod
    def _hex(cls, v: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{64}", v):
            raise ValueError("must be 64 lowercase hex digits (the SHA-256 of the key, never the key itself)")
        return v


class Security(Section):
    keys: list[ApiKey] = Field([], description="API keys, stored hashed; a request needs one")
    max_request_bytes: int = Field(65536, ge=256, description="larger request bodies get 413")


class Policy(Section):
    schema_: Literal[SCHEMA] = Field(alias="schema", description="file format tag")  # type: ignore[valid-type]
    constitution: str = Field("cai-2022", description="the constitution whose principles are the categories")
    upstream: str = Field("smollm2-135m", description="model spec of the model behind the guard")
    served_model: str = Field("guarded", min_length=1, description="the model id clients see")
    upstream_timeout_s: float = Field(120, gt=0, description="an upstream slower than this fails the request (closed)")
    rail_timeout_s: float = Field(10, gt=0, description="a rail slower than this fails (closed, unless on_error: allow)")
    max_tokens: int = Field(256, ge=1, description="new tokens when the client asks for none")
    classifier_c: float = Field(1.0, gt=0, description="inverse regularization of the decision classifier "
                                "(the pipeline's decision.c)")
    refusal: str = Field("I can't help with that, because it could {concern}. If you need help with this, I'd "
                         "suggest talking to {help}.", description="a block's reply; {concern} and {help} are "
                         "the principle's")
    fallback_refusal: str = Field("I can't help with that request.", description="a block's reply where no "
                                  "principle applies (a pattern rule)")
    disclaimer: str = Field("Note: this answer touches on a sensitive area; please check it with a qualified "
                            "person before relying on it.", description="prefixed to a disclaimed answer")
    input: InputRail = InputRail()
    output: OutputRail = OutputRail()
    actions: Actions = Actions()
    stream: StreamSettings = StreamSettings()
    audit: AuditSettings = AuditSettings()
    security: Security = Security()


def packaged_policy(name: str) -> Path:
    return Path(str(resources.files("constitutional") / "guard" / "policies" / f"{name}.yaml"))


def resolve_policy(name_or_path: str | Path) -> Path:
    """A local file wins over a packaged name, so a user's own ``default.yaml`` is never shadowed."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    if packaged_policy(str(name_or_path)).is_file():
        return packaged_policy(str(name_or_path))
    raise ConstitutionalError("policy not found", file=path, hint="pass a policy YAML (`constitutional guard init DIR` "
                              "writes one) or the packaged name 'default'")


def load_policy(name_or_path: str | Path) -> Policy:
    from constitutional.constitution import load_constitution

    path = resolve_policy(name_or_path)
    data, lines = load_yaml(path)
    if not isinstance(data, dict):
        raise ConstitutionalError("a policy is a YAML mapping", file=path, line=1, hint=f"start it with 'schema: {SCHEMA}'")
    try:
        policy = Policy.model_validate(data)
    except ValidationError as e:
        raise pydantic_error(e, path, lines) from None
    if policy.input.review_above > policy.input.threshold:
        raise ConstitutionalError("review_above is above threshold, so the gray band is empty", file=path,
                                  line=line_of(lines, ("input", "review_above")), field="input.review_above",
                                  hint=f"set it at or below {policy.input.threshold}")
    beside = path.parent / policy.constitution  # a constitution next to the policy file is the one it means
    if beside.is_file():
        policy.constitution = str(beside.resolve())
    constitution = load_constitution(policy.constitution)
    for pid in policy.actions.by_principle:
        if pid not in {p.id for p in constitution.restricting}:
            raise ConstitutionalError(f"'{pid}' is not a restricting principle of '{constitution.name}'", file=path,
                                      line=line_of(lines, ("actions", "by_principle", pid)),
                                      field=f"actions.by_principle.{pid}",
                                      hint="one of: " + ", ".join(p.id for p in constitution.restricting))
    return policy
