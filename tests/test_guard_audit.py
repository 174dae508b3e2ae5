"""The guard's audit log in real SQLite and real PostgreSQL: migrations, the hash chain catching an edited,
deleted or inserted row, retention that deletes only old rows, redaction, and the export the training
stages read."""

import json
import time
import uuid

import pytest
import sqlalchemy as sa

from constitutional.guard.audit import AuditLog, events, redact
from constitutional.prompts import load_prompts


@pytest.fixture(params=["sqlite", "postgresql"])
def audit(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'audit.sqlite'}"
    else:
        base = request.getfixturevalue("postgres_url")
        db = f"t_{uuid.uuid4().hex[:12]}"  # one database per test: the chain starts empty
        engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {db}"))
        engine.dispose()
        url = base.rsplit("/", 1)[0] + f"/{db}"
    log = AuditLog(url)
    yield log
    log.close()


def _write(log: AuditLog, prompt: str, outcome: str = "allowed", ts: float | None = None, **kw) -> int:
    return log.write(request_id=uuid.uuid4().hex, outcome=outcome, messages=[{"role": "user", "content": prompt}],
                     final_response="ok", ts=ts, **kw)


def test_a_fresh_log_is_migrated_and_an_untouched_chain_verifies(audit):
    for i in range(5):
        _write(audit, f"question {i}", input_rail={"score": 0.1 * i, "action": "allow"}, latency_ms=12.3456)
    AuditLog(audit.url).close()  # opening again migrates nothing and keeps the rows
    report = audit.verify()
    assert report == {"ok": True, "rows": 5, "problems": []}


def test_verify_names_an_edited_a_deleted_and_an_appended_row(audit):
    ids = [_write(audit, f"q{i}") for i in range(6)]
    with audit.engine.begin() as conn:
        conn.execute(events.update().where(events.c.id == ids[1]).values(final_response="edited"))
    problems = audit.verify()["problems"]
    assert [p["id"] for p in problems] == [ids[1]] and "changed" in problems[0]["problem"]
    with audit.engine.begin() as conn:
        conn.execute(events.update().where(events.c.id == ids[1]).values(final_response="ok"))
        conn.execute(events.delete().where(events.c.id == ids[3]))
    problems = audit.verify()["problems"]
    assert [p["id"] for p in problems] == [ids[4]] and "deleted or inserted" in problems[0]["problem"]
    with audit.engine.begin() as conn:  # the end of the chain: the head says where it stops
        conn.execute(events.delete().where(events.c.id >= ids[3]))
    assert [p["id"] for p in audit.verify()["problems"]] == [None]


def test_retention_deletes_only_old_rows_logs_itself_and_keeps_the_chain_verifiable(audit):
    now = time.time()
    old = [_write(audit, f"old {i}", ts=now - 40 * 86400) for i in range(3)]
    new = [_write(audit, f"new {i}", ts=now - 86400) for i in range(2)]
    assert audit.purge(30 * 86400) == 3
    rows = audit.rows()
    assert [r["id"] for r in rows][:2] == new and rows[-1]["outcome"] == "purge" and old[0] not in [r["id"] for r in rows]
    assert audit.verify()["ok"]
    assert audit.purge(30 * 86400) == 0


def test_pii_is_redacted_before_storage_when_the_policy_says_so(audit):
    log = AuditLog(audit.url, redact_pii=True)
    log.write(request_id="r", outcome="flagged", messages=[{"role": "user", "content": "mail jo.doe@example.org or "
              "call 555-123-4567, card 4111 1111 1111 1111"}], final_response="sent to jo.doe@example.org")
    row = log.rows()[-1]
    stored = json.loads(row["messages"])[0]["content"] + row["final_response"]
    assert "example.org" not in stored and "4111" not in stored and "555-123" not in stored
    assert "[email]" in stored and "[card number]" in stored and "[phone]" in stored
    assert log.verify()["ok"]
    log.close()
    assert redact("no personal data here") == "no personal data here"


def test_export_writes_blocked_and_flagged_prompts_as_a_prompt_set(audit, tmp_path):
    _write(audit, "a fine question")
    _write(audit, "a blocked request", outcome="blocked_input", category="no-cyberattacks")
    _write(audit, "a flagged request", outcome="flagged", category="protect-privacy")
    out = tmp_path / "found.jsonl"
    assert audit.export(out) == 2
    records = load_prompts(out, "train")
    assert [r.prompt for r in records] == ["a blocked request", "a flagged request"]
    assert [r.category for r in records] == ["no-cyberattacks", "protect-privacy"]


def test_a_keyed_chain_cannot_be_recomputed_without_the_key(audit, monkeypatch):
    monkeypatch.setenv("GUARD_TEST_KEY", "s3cret")
    keyed = AuditLog(audit.url, key_env="GUARD_TEST_KEY")
    _write(keyed, "q")
    assert keyed.verify()["ok"]
    assert not AuditLog(audit.url).verify()["ok"]  # the same rows under plain SHA-256 do not verify
    keyed.close()
