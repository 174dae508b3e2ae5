"""The README's tour runs as written: every command in the ```bash block after
``<!-- tour -->``, in order, in a fresh directory holding a copy of configs/.

The one change is the model: the tiny random Llama stands in for the embedded
SmolLM2-135M, so the whole tour takes about a minute. Commands that take config
overrides get ``--model=hf:<tiny> --dtype=float32``; a model argument naming the
embedded model (``judge-check smollm2-135m``, ``--model=smollm2-135m``) is
replaced by the tiny model. A model the tour itself trained (``hf:runs/...``)
is kept, so the later commands read what the earlier ones wrote.
"""

from __future__ import annotations

import shlex
import shutil
import time
import traceback
from pathlib import Path

from typer.testing import CliRunner

from constitutional.cli import app

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- tour -->"
EMBEDDED = "smollm2-135m"
# commands whose extra --section.key=value arguments are config overrides
TAKES_OVERRIDES = {"run", "sl-cai", "distill", "sft", "pairs", "feedback", "reward", "rbr", "rl", "safe-rlhf", "dpo",
                   "generate", "before-after", "eval", "judge-check", "compare"}


def tour_commands(readme: str) -> list[str]:
    """The commands of the ```bash block right after the marker; a trailing
    backslash continues a command on the next line."""
    lines = readme.split(MARKER, 1)[1].lstrip("\n").splitlines()
    assert lines and lines[0].strip() == "```bash", f"the line after {MARKER} must open a ```bash block"
    commands, current = [], ""
    for line in lines[1:]:
        if line.strip() == "```":
            break
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        if shlex.split(current, comments=True):
            commands.append(current.strip())
        current = ""
    else:
        raise AssertionError(f"the ```bash block after {MARKER} is not closed")
    return commands


def with_tiny_model(args: list[str], tiny: str) -> list[str]:
    out = [tiny if a == EMBEDDED else f"--model={tiny}" if a == f"--model={EMBEDDED}" else a for a in args]
    if args[0] in TAKES_OVERRIDES:
        if not any(a.startswith("--model=") for a in out) and args[0] != "judge-check":
            out.append(f"--model={tiny}")
        out.append("--dtype=float32")
    return out


def test_readme_tour_runs_as_written(tmp_path, monkeypatch, tiny_model_dir):
    commands = tour_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(commands) >= 10, commands
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    tiny = f"hf:{tiny_model_dir}"
    timings = []
    for command in commands:
        words = shlex.split(command, comments=True)
        assert words[0] == "constitutional", f"tour lines are constitutional commands: {command}"
        args = with_tiny_model(words[1:], tiny)
        t0 = time.time()
        r = runner.invoke(app, args)
        timings.append((round(time.time() - t0, 1), command))
        if r.exit_code != 0:
            tb = "".join(traceback.format_exception(*r.exc_info)) if r.exc_info and r.exception else ""
            raise AssertionError(f"tour command failed (exit {r.exit_code}): {command}\n"
                                 f"ran as: constitutional {shlex.join(args)}\n{r.output}\n{tb}")
    print("\n".join(f"{s:6.1f}s  {c}" for s, c in timings))
    assert (tmp_path / "runs" / "tour" / "eval" / "metrics.json").is_file()
