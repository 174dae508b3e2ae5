"""Regenerate the README's configuration reference from the code.

Replaces everything between ``<!-- config-reference:start -->`` and
``<!-- config-reference:end -->`` in README.md with ``commented_yaml()`` (what
``constitutional init`` writes) in a ```yaml block. ``--check`` only reports
whether the block is current (exit 1 if not).

    python scripts/update_readme_reference.py [--check]
"""

from __future__ import annotations

import sys
from pathlib import Path

from constitutional.core.config import commented_yaml

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"


def updated(text: str) -> str:
    head, sep, rest = text.partition(START)
    _, sep2, tail = rest.partition(END)
    if not (sep and sep2):
        raise SystemExit(f"{README}: markers {START} and {END} not found")
    return f"{head}{START}\n```yaml\n{commented_yaml()}\n```\n{END}{tail}"


def main(argv: list[str]) -> int:
    text = README.read_text(encoding="utf-8")
    new = updated(text)
    if "--check" in argv:
        print("up to date" if new == text else "README configuration reference is stale")
        return 0 if new == text else 1
    if new != text:
        README.write_text(new, encoding="utf-8")
        print(f"updated the configuration reference in {README}")
    else:
        print("already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
