"""One error type for everything a user can get wrong.

Every message names where the problem is (file, line or record, field), what is
wrong, and what to do about it, so the CLI can print it as is and exit.
"""

from __future__ import annotations

from pathlib import Path


class ConstitutionalError(Exception):
    """A user-facing error: bad input file, bad config, unreachable model."""

    def __init__(
        self,
        problem: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ):
        self.problem, self.file, self.line, self.field, self.hint = problem, file, line, field, hint
        super().__init__(self.render())

    def render(self) -> str:
        where = ""
        if self.file is not None:
            where = str(self.file) + (f":{self.line}" if self.line is not None else "") + ": "
        field = f"field '{self.field}': " if self.field else ""
        hint = f"\n  hint: {self.hint}" if self.hint else ""
        return f"{where}{field}{self.problem}{hint}"
