"""The guard and audit-log commands."""

from __future__ import annotations

from pathlib import Path

import typer

from constitutional.cli.common import app, friendly
from constitutional.core.errors import ConstitutionalError
from constitutional.core.ui import console, summary, table

guard_app = typer.Typer(no_args_is_help=True, help="A guard in front of and behind any model: rails from the "
                        "constitution, fail-closed, with an audit log.")
app.add_typer(guard_app, name="guard")
audit_app = typer.Typer(no_args_is_help=True, help="The guard's audit log: verify the hash chain, purge old rows, "
                        "export blocked and flagged prompts for the next training run.")
app.add_typer(audit_app, name="audit")
POLICY_ARG = typer.Argument(..., help="guard policy YAML (or the packaged 'default')")


def _new_key() -> tuple[str, str]:
    import secrets

    from constitutional.guard.server import hash_key

    key = "cg-" + secrets.token_urlsafe(24)
    return key, hash_key(key)


@guard_app.command("init")
@friendly
def guard_init(path: Path = typer.Argument(Path("guard.yaml"), help="where to write the policy"),
               name: str = typer.Option("me", help="the API key's owner")):
    """Write a policy to edit (the packaged default) with a fresh API key; the key is printed once."""
    from constitutional.guard.policy import packaged_policy

    if path.exists():
        raise ConstitutionalError("already exists; not overwriting", file=path, hint="move it or pick another path")
    key, digest = _new_key()
    text = packaged_policy("default").read_text(encoding="utf-8").replace(
        "  keys: []", f"  keys:\n    - {{name: {name}, sha256: {digest}}}", 1)
    if (path.parent / "constitution.yaml").is_file():  # beside `constitutional init`'s files: the run's constitution
        text = text.replace("\nconstitution: cai-2022 ", "\nconstitution: constitution.yaml ", 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    console.print(f"wrote {path}\nAPI key for '{name}' (shown once, stored only as its SHA-256): [bold]{key}[/]")
    console.print(f"next: `constitutional guard check {path}`, then `constitutional guard serve {path}`")


@guard_app.command("key")
@friendly
def guard_key(name: str = typer.Argument(..., help="the key's owner (logged; the key never is)")):
    """Print a new API key and the line to add under the policy's security.keys."""
    key, digest = _new_key()
    console.print(f"key (shown once): [bold]{key}[/]\nadd under security.keys:\n    - {{name: {name}, sha256: {digest}}}")


@guard_app.command("serve")
@friendly
def guard_serve(policy: str = POLICY_ARG, host: str = typer.Option("127.0.0.1", help="bind address"),
                port: int = typer.Option(8100, help="port")):
    """Serve the guard: an OpenAI-compatible /v1/chat/completions in front of the policy's upstream."""
    import logging

    import uvicorn

    from constitutional.guard.policy import load_policy
    from constitutional.guard.server import build_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    pol = load_policy(policy)
    with console.status("fitting the constitution's classifier and opening the audit log"):
        guard_app_ = build_app(pol)
    summary(f"guard for {pol.upstream} at http://{host}:{port}/v1", {
        "constitution": pol.constitution, "served model": pol.served_model,
        "input rail": f"threshold {pol.input.threshold}" if pol.input.enabled else "off",
        "output rail": f"{pol.output.action} at {pol.output.threshold}" if pol.output.enabled else "off",
        "audit log": pol.audit.url, "keys": len(pol.security.keys)})
    uvicorn.run(guard_app_, host=host, port=port)


@guard_app.command("check")
@friendly
def guard_check(policy: str = POLICY_ARG,
                out: Path | None = typer.Option(None, help="also write the full report as JSON here")):
    """Each rail's precision and recall on held-out labeled prompts and replies."""
    import json

    from constitutional.guard.check import INPUT_COLUMNS, check, input_rows, output_rows
    from constitutional.guard.policy import load_policy
    from constitutional.guard.rails import Rails

    pol = load_policy(policy)
    with console.status("fitting the constitution's classifier and reading the labeled sets"):
        report = check(Rails(pol))
    i, o = report["input"], report["output"]
    table(f"input rail ({report['classifier']}): precision {i['precision']:.1%}, recall {i['recall']:.1%}",
          INPUT_COLUMNS, input_rows(report))
    table(f"output rail on {o['labeled_set']} (unsafe: harm >= {o['unsafe_if_harm_at_least']}): precision "
          f"{o['precision']:.1%}, recall {o['recall']:.1%}", ["replies", "expected", "blocked"], output_rows(report))
    if out:
        out.write_text(json.dumps(report, indent=2), encoding="utf-8")
        console.print(f"wrote {out}")


def _duration_s(text: str) -> float:
    """``"30d" -> 2592000``; s, m, h, d."""
    import re

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text)
    if not m:
        raise ConstitutionalError(f"not a duration: {text!r}", field="--older-than", hint="write it as 30d, 12h, 90m or 3600s")
    return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def _audit(policy: str):
    from constitutional.guard.audit import AuditLog
    from constitutional.guard.policy import load_policy

    a = load_policy(policy).audit
    return AuditLog(a.url, redact_pii=a.redact_pii, key_env=a.key_env)


@audit_app.command("verify")
@friendly
def audit_verify(policy: str = POLICY_ARG):
    """Walk the hash chain: exit 1 and name the rows if any was edited, deleted or inserted."""
    report = _audit(policy).verify()
    if report["ok"]:
        summary("audit log intact", {"rows": report["rows"]})
        return
    table(f"audit log tampered with: {len(report['problems'])} problem(s) in {report['rows']} rows", ["row", "problem"],
          [(p["id"] if p["id"] is not None else "end", p["problem"]) for p in report["problems"]])
    raise typer.Exit(1)


@audit_app.command("purge")
@friendly
def audit_purge(policy: str = POLICY_ARG, older_than: str = typer.Option(..., help="e.g. 30d, 12h")):
    """Delete rows older than the given age (the purge is itself logged, and the chain stays verifiable)."""
    n = _audit(policy).purge(_duration_s(older_than))
    summary("audit purge", {"rows deleted": n, "older than": older_than})


@audit_app.command("export")
@friendly
def audit_export(policy: str = POLICY_ARG, out: Path = typer.Option(..., help="JSONL prompt file to write"),
                 outcome: list[str] = typer.Option(["flagged", "revised", "blocked_input", "blocked_output", "halted"],
                                                   help="which outcomes to export (repeat)")):
    """Blocked and flagged prompts as a prompt set the training stages read (e.g. distill.prompts)."""
    n = _audit(policy).export(out, tuple(outcome))
    summary(f"wrote {out}", {"prompts": n, "outcomes": ", ".join(outcome)})
    console.print(f"next: add it to a run, e.g. `constitutional distill --distill.prompts='[redteam, helpful, {out}]'`",
                  markup=False)
