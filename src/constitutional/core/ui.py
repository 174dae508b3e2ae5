"""Console output shared by every command: progress bars and end tables."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

console = Console(stderr=False)


@contextmanager
def progress(description: str, total: int) -> Iterator:
    """Yields ``advance(n)``: a callback for CachedGenerator and loops."""
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=console, transient=False)
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


def table(title: str, columns: Iterable[str], rows: Iterable[Iterable], **kw) -> Table:
    t = Table(title=title, title_justify="left", **kw)
    for c in columns:
        t.add_column(str(c), overflow="fold")
    for r in rows:
        t.add_row(*[str(x) for x in r])
    console.print(t)
    return t


def summary(title: str, items: dict) -> None:
    table(title, ["", "value"], items.items())
