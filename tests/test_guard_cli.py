"""The guard's and the audit log's commands, as a user runs them."""

import re

import sqlalchemy as sa
from typer.testing import CliRunner

from constitutional.cli import app
from constitutional.guard.audit import AuditLog, events
from constitutional.guard.policy import load_policy
from constitutional.guard.server import hash_key

runner = CliRunner()


def test_init_writes_a_policy_whose_key_is_stored_hashed_and_uses_the_runs_constitution(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["init", "exp"]).exit_code == 0
    r = runner.invoke(app, ["guard", "init", "exp/guard.yaml", "--name", "ops"])
    assert r.exit_code == 0, r.output
    key = re.search(r"(cg-[\w-]+)", r.output).group(1)
    text = (tmp_path / "exp" / "guard.yaml").read_text(encoding="utf-8")
    assert key not in text and hash_key(key) in text
    policy = load_policy("exp/guard.yaml")
    assert policy.security.keys[0].name == "ops" and policy.constitution == str(tmp_path / "exp" / "constitution.yaml")
    again = runner.invoke(app, ["guard", "init", "exp/guard.yaml"])
    assert again.exit_code == 2 and "not overwriting" in again.output
    r = runner.invoke(app, ["guard", "key", "ci"])
    assert r.exit_code == 0 and "sha256: " in r.output and "name: ci" in r.output


def test_audit_verify_purge_and_export_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["guard", "init", "guard.yaml"]).exit_code == 0
    log = AuditLog(load_policy("guard.yaml").audit.url)
    for i, outcome in enumerate(["allowed", "blocked_input", "flagged"]):
        log.write(request_id=str(i), outcome=outcome, messages=[{"role": "user", "content": f"request {i}"}],
                  category="no-cyberattacks" if outcome != "allowed" else None, ts=1_000_000.0 + i)
    r = runner.invoke(app, ["audit", "verify", "guard.yaml"])
    assert r.exit_code == 0 and "intact" in r.output
    r = runner.invoke(app, ["audit", "export", "guard.yaml", "--out", "found.jsonl"])
    assert r.exit_code == 0 and len((tmp_path / "found.jsonl").read_text().splitlines()) == 2
    with log.engine.begin() as conn:
        conn.execute(events.update().where(events.c.request_id == "1").values(outcome="allowed"))
    r = runner.invoke(app, ["audit", "verify", "guard.yaml"])
    assert r.exit_code == 1 and "changed" in r.output
    assert runner.invoke(app, ["audit", "purge", "guard.yaml", "--older-than", "soon"]).exit_code == 2
    r = runner.invoke(app, ["audit", "purge", "guard.yaml", "--older-than", "30d"])
    assert r.exit_code == 0 and "3" in r.output
    with log.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one() == 1  # the purge's own row
