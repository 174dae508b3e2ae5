"""The rails: each reads the constitution through the decision classifier the training pipeline uses.

- Input rail: the policy's pattern rules, then the classifier on every user
  message (the highest score counts, so a harmful request two turns back
  still counts). At or above ``input.threshold`` the principle's action
  applies; in the gray band, the gray action.
- Output rail: a reply that is a refusal passes, and so does a reply to a
  request the constitution clearly permits (below ``input.review_above``);
  otherwise the classifier reads the exchange (the last request and the
  reply together) and a score at or above ``output.threshold`` fails it.
  Why not the reply alone: on ``harm_labels`` the reply alone scores high for
  almost every reply (recall 1.0 at 40 % precision), and the exchange alone
  blocks a quarter of the harmless answers (how-to answers read as
  instructions); the request's own score is the signal that separates them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from constitutional.guard.policy import Policy
from constitutional.models.base import Conversation


@dataclass
class Verdict:
    rail: str  # "input" or "output"
    action: str  # allow | block | disclaim | flag | revise
    score: float  # the classifier's P(restricted) (1.0 for a pattern match)
    principle: str | None = None  # the restricting principle that applies
    category: str | None = None  # the principle id or the pattern rule's category
    reason: str = ""
    latency_ms: float = 0.0
    rule: str | None = None  # the policy setting that decided the action, e.g. "actions.by_principle.protect-privacy"
    error: str | None = None  # the rail failed: what happened
    bypassed: bool = False  # the rail failed and the policy said on_error: allow

    def as_dict(self) -> dict:
        d = asdict(self)
        d["score"], d["latency_ms"] = round(self.score, 4), round(self.latency_ms, 2)
        return d


def user_texts(messages: Conversation) -> list[str]:
    return [m["content"] for m in messages if m.get("role") == "user" and m.get("content")]


class Rails:
    def __init__(self, policy: Policy, classifier=None, refusal=None):
        from constitutional.decision import classifier_for
        from constitutional.refusal.classifier import default_classifier

        self.policy = policy
        self.clf = classifier or classifier_for(policy.constitution, policy.input.threshold, policy.classifier_c)
        self.refusals = refusal or default_classifier()
        self.patterns = [(re.compile(r.pattern, re.IGNORECASE), r) for r in policy.input.patterns]

    def _principle_action(self, principle: str) -> tuple[str, str]:
        """(action, the policy setting it comes from)"""
        if principle in self.policy.actions.by_principle:
            return self.policy.actions.by_principle[principle], f"actions.by_principle.{principle}"
        return self.policy.actions.restricted, "actions.restricted"

    def check_input(self, messages: Conversation) -> Verdict:
        t0 = time.perf_counter()
        texts = user_texts(messages)
        for i, (rx, rule) in enumerate(self.patterns):
            if any(rx.search(t) for t in texts):
                return Verdict("input", rule.action, 1.0, None, rule.category, f"pattern {rule.pattern!r}",
                               _ms(t0), rule=f"input.patterns.{i}")
        scored = self.clf.scores(texts)
        if not scored:
            return Verdict("input", "allow", 0.0, reason="no user text", latency_ms=_ms(t0))
        p, principle = max(scored)
        rail = self.policy.input
        if p >= rail.threshold:
            action, rule = self._principle_action(principle)
            return Verdict("input", action, p, principle, principle, "the constitution restricts this request", _ms(t0),
                           rule=rule)
        if p >= rail.review_above:
            return Verdict("input", self.policy.actions.gray, p, None, principle, "gray band", _ms(t0),
                           rule="actions.gray")
        return Verdict("input", "allow", p, reason="permitted", latency_ms=_ms(t0))

    def check_output(self, messages: Conversation, reply: str) -> Verdict:
        t0 = time.perf_counter()
        request = (user_texts(messages) or [""])[-1]
        if not reply.strip() or self.refusals.classify(request, reply) == "refuse":
            return Verdict("output", "allow", 0.0, reason="a refusal or nothing", latency_ms=_ms(t0))
        (p_request, _), (p, principle) = self.clf.scores([request, exchange(request, reply)])
        if p_request < self.policy.input.review_above:
            return Verdict("output", "allow", p, reason="the constitution clearly permits the request",
                           latency_ms=_ms(t0))
        if p >= self.policy.output.threshold:
            return Verdict("output", self.policy.output.action, p, principle, principle,
                           "the reply gives what the constitution restricts", _ms(t0), rule="output.action")
        return Verdict("output", "allow", p, reason="passes", latency_ms=_ms(t0))

    def output_scores(self, requests: Sequence[str], replies: Sequence[str]) -> list[float]:
        """The output rail's score for many labeled exchanges at once (``guard check``): 0 for a refusal or a
        reply to a clearly permitted request, else the exchange's."""
        kinds = self.refusals.classify_many(list(requests), list(replies))
        asked = self.clf.scores(list(requests))
        scored = self.clf.scores([exchange(q, r) for q, r in zip(requests, replies)])
        return [0.0 if k == "refuse" or not r.strip() or pq < self.policy.input.review_above else p
                for k, r, (pq, _), (p, _) in zip(kinds, replies, asked, scored)]

    def refusal_text(self, principle: str | None) -> str:
        p = self.clf.constitution.by_id.get(principle) if principle else None
        if p is None or not p.concern:
            return self.policy.fallback_refusal
        return self.policy.refusal.format(concern=p.concern, help=p.help)

    def revision_requests(self, principle: str | None) -> tuple[str, str] | None:
        """The principle's own critique and revision requests (what ``revise`` sends the upstream)."""
        p = self.clf.constitution.by_id.get(principle) if principle else None
        return (p.critique, p.revision) if p else None


def exchange(request: str, reply: str) -> str:
    return f"{request}\n\n{reply}"


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000
