"""The audit log: every request through the guard, in SQLite or PostgreSQL.

One row per request (and one per purge): the messages, each rail's verdict
(score, principle, action, latency), the upstream's reply and served model
id, the final reply, the outcome, and any error or bypass. The schema is
created and migrated by Alembic (``guard/migrations``) on open.

Tamper evidence: each row's ``row_hash`` covers its fields and the previous
row's hash; ``audit_chain`` holds the last hash (``head``) and the hash the
oldest kept row follows (``anchor``, moved by a purge, which is itself a
row). ``verify`` walks the chain and names the first row that was edited,
deleted or inserted. With a secret in ``audit.key_env`` the hashes are
HMACs, so someone who can write the database cannot recompute them; without
it they are plain SHA-256 and catch edits that do not rewrite the chain.

Rows are written under a lock (and ``SELECT ... FOR UPDATE`` on the chain
row, so several guard processes on one PostgreSQL database keep one chain).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import threading
import time
from importlib import resources
from pathlib import Path

import sqlalchemy as sa

from constitutional.core.errors import ConstitutionalError

GENESIS = "0" * 64
OUTCOMES = ("allowed", "flagged", "disclaimed", "revised", "blocked_input", "blocked_output", "halted", "error",
            "purge")
#: outcomes a human should look at, and what ``export`` feeds the next training run
REVIEW = ("flagged", "revised", "blocked_input", "blocked_output", "halted")

metadata = sa.MetaData()
events = sa.Table(
    "audit_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.Float, nullable=False), sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("api_key", sa.String(128)), sa.Column("event", sa.String(16), nullable=False),
    sa.Column("stream", sa.Boolean, nullable=False), sa.Column("requested_model", sa.String(256)),
    sa.Column("upstream_model", sa.String(256)), sa.Column("messages", sa.Text, nullable=False),
    sa.Column("input_rail", sa.Text), sa.Column("output_rail", sa.Text), sa.Column("upstream_response", sa.Text),
    sa.Column("final_response", sa.Text), sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("category", sa.String(128)), sa.Column("flagged", sa.Boolean, nullable=False),
    sa.Column("bypassed", sa.Boolean, nullable=False), sa.Column("error", sa.Text), sa.Column("latency_ms", sa.Float),
    sa.Column("prev_hash", sa.String(64), nullable=False), sa.Column("row_hash", sa.String(64), nullable=False),
)
chain = sa.Table("audit_chain", metadata, sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("head", sa.String(64), nullable=False), sa.Column("anchor", sa.String(64), nullable=False))
HASHED = [c.name for c in events.columns if c.name not in ("id", "prev_hash", "row_hash")]

_PII = [(re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"), "[email]"),
        (re.compile(r"\b(?:\d[ -]?){13,19}\b"), "[card number]"),
        (re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), "[id number]"),
        (re.compile(r"(?<!\w)(?:\+?\d{1,3}[ .-]?)?\(?\d{3}\)?[ .-]?\d{3}[ .-]?\d{4}\b"), "[phone]"),
        (re.compile(r"\b\d{1,3}(\.\d{1,3}){3}\b"), "[ip address]")]


def redact(text: str) -> str:
    """``"mail me at a.b@c.org" -> "mail me at [email]"``"""
    for rx, repl in _PII:
        text = rx.sub(repl, text)
    return text


def _dumps(value) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


class AuditLog:
    def __init__(self, url: str, *, redact_pii: bool = False, key_env: str = "CONSTITUTIONAL_AUDIT_KEY"):
        self.url, self.redact_pii = url, redact_pii
        self.key = os.environ.get(key_env, "").encode()
        try:
            parsed = sa.engine.make_url(url)
        except sa.exc.ArgumentError as e:
            raise ConstitutionalError(f"not a database URL: {e}", field="audit.url",
                                      hint="sqlite:///path/audit.sqlite or postgresql+psycopg://user:pass@host/db") from None
        kw: dict = {}
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kw["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine = sa.create_engine(parsed, pool_pre_ping=True, **kw)
        if parsed.get_backend_name() == "sqlite":  # WAL: `audit verify` and exports read while the guard writes
            sa.event.listen(self.engine, "connect", lambda conn, _: conn.execute("PRAGMA journal_mode=WAL"))
        self.lock = threading.Lock()
        self.upgrade()

    def upgrade(self) -> None:
        """Create or migrate the schema to the newest revision (Alembic)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(resources.files("constitutional") / "guard" / "migrations"))
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except sa.exc.OperationalError as e:
            raise ConstitutionalError(f"cannot open the audit database: {e.orig}", field="audit.url",
                                      hint="check the URL, that the server runs and that the user may create tables") from None

    # -- the chain -------------------------------------------------------------------------------------
    def _hash(self, prev: str, row: dict) -> str:
        payload = (prev + json.dumps([row[k] for k in HASHED], ensure_ascii=False)).encode()
        if self.key:
            return hmac.new(self.key, payload, hashlib.sha256).hexdigest()
        return hashlib.sha256(payload).hexdigest()

    def write(self, *, request_id: str, outcome: str, messages, api_key: str | None = None, event: str = "request",
              stream: bool = False, requested_model: str | None = None, upstream_model: str | None = None,
              input_rail: dict | None = None, output_rail: dict | None = None, upstream_response: str | None = None,
              final_response: str | None = None, category: str | None = None, flagged: bool = False,
              bypassed: bool = False, error: str | None = None, latency_ms: float | None = None,
              ts: float | None = None) -> int:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        clean = redact if self.redact_pii else (lambda s: s)
        if self.redact_pii:
            messages = [{**m, "content": clean(m.get("content", ""))} for m in messages]
        row = {"ts": time.time() if ts is None else ts, "request_id": request_id, "api_key": api_key, "event": event,
               "stream": stream, "requested_model": requested_model, "upstream_model": upstream_model,
               "messages": _dumps(list(messages)), "input_rail": _dumps(input_rail), "output_rail": _dumps(output_rail),
               "upstream_response": None if upstream_response is None else clean(upstream_response),
               "final_response": None if final_response is None else clean(final_response), "outcome": outcome,
               "category": category, "flagged": flagged, "bypassed": bypassed, "error": error,
               "latency_ms": None if latency_ms is None else round(latency_ms, 3)}
        with self.lock, self.engine.begin() as conn:
            head = conn.execute(sa.select(chain.c.head).where(chain.c.id == 1).with_for_update()).scalar_one()
            row["prev_hash"], row["row_hash"] = head, self._hash(head, row)
            rid = conn.execute(events.insert().values(**row)).inserted_primary_key[0]
            conn.execute(chain.update().where(chain.c.id == 1).values(head=row["row_hash"]))
        return int(rid)

    def verify(self) -> dict:
        """Walk the chain; ``{"ok", "rows", "problems": [{"id", "problem"}]}``."""
        problems = []
        with self.engine.connect() as conn:
            head, anchor = conn.execute(sa.select(chain.c.head, chain.c.anchor).where(chain.c.id == 1)).one()
            expected, n = anchor, 0
            for r in conn.execute(sa.select(events).order_by(events.c.id)).mappings():
                n += 1
                if r["prev_hash"] != expected:
                    problems.append({"id": r["id"], "problem": "does not follow the row before it (a row before it "
                                     "was deleted or inserted)"})
                if self._hash(r["prev_hash"], dict(r)) != r["row_hash"]:
                    problems.append({"id": r["id"], "problem": "its content was changed after it was written"})
                expected = r["row_hash"]
            if expected != head:
                problems.append({"id": None, "problem": "the last row is not the chain's head (rows at the end were "
                                 "deleted)"})
        return {"ok": not problems, "rows": n, "problems": problems}

    def purge(self, older_than_s: float, now: float | None = None) -> int:
        """Delete rows older than ``older_than_s`` seconds, move the anchor, and log the purge as a row."""
        cutoff = (time.time() if now is None else now) - older_than_s
        with self.lock, self.engine.begin() as conn:
            conn.execute(sa.select(chain.c.head).where(chain.c.id == 1).with_for_update()).scalar_one()
            ids = [i for (i,) in conn.execute(sa.select(events.c.id).where(events.c.ts < cutoff).order_by(events.c.id))]
            if ids:  # the chain keeps its order: only a prefix of it may go
                first_kept = conn.execute(sa.select(events.c.id, events.c.prev_hash).where(events.c.id > ids[-1])
                                          .order_by(events.c.id).limit(1)).first()
                conn.execute(events.delete().where(events.c.id <= ids[-1]))
                anchor = first_kept.prev_hash if first_kept else conn.execute(
                    sa.select(chain.c.head).where(chain.c.id == 1)).scalar_one()
                conn.execute(chain.update().where(chain.c.id == 1).values(anchor=anchor))
        if ids:
            self.write(request_id="purge", outcome="purge", event="purge", messages=[],
                       final_response=f"purged {len(ids)} rows older than {older_than_s:g}s (cutoff ts {cutoff:.3f})")
        return len(ids)

    def rows(self, outcomes: tuple[str, ...] | None = None) -> list[dict]:
        q = sa.select(events).order_by(events.c.id)
        if outcomes:
            q = q.where(events.c.outcome.in_(outcomes))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def export(self, path: Path, outcomes: tuple[str, ...] = REVIEW) -> int:
        """Blocked and flagged requests as a prompt set (JSONL, ``messages`` up to the last user turn, the
        principle as ``category``, split ``train``): what ``distill.prompts`` or ``sl_cai.prompts`` read."""
        path.parent.mkdir(parents=True, exist_ok=True)
        n = 0
        with path.open("w", encoding="utf-8") as f:
            for r in self.rows(outcomes):
                msgs = [m for m in json.loads(r["messages"]) if m.get("role") in ("system", "user", "assistant")]
                last_user = max((i for i, m in enumerate(msgs) if m["role"] == "user"), default=None)
                if last_user is None:
                    continue
                f.write(json.dumps({"id": f"audit-{r['id']}", "messages": msgs[: last_user + 1],
                                    "category": r["category"] or "", "split": "train", "outcome": r["outcome"]},
                                   ensure_ascii=False) + "\n")
                n += 1
        return n

    def close(self) -> None:
        self.engine.dispose()
