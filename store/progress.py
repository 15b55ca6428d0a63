"""Progress for long command-line work: a rich progress bar on a terminal, plain lines otherwise.

    with progress_bar() as report:
        report("importing", done, total)

Both go to stderr, so stdout keeps only the command's own output (reconcile's one line per order).
Plain lines are for logs and pipes: one at the start of each stage, one every tenth, one at the end.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

Report = Callable[[str, int, int], None]  # (stage, done, total)


@contextmanager
def progress_bar(stream: TextIO | None = None) -> Iterator[Report]:
    out = stream or sys.stderr
    if out.isatty():
        with _rich(out) as report:
            yield report
    else:
        yield _plain(out)


def _plain(out: TextIO) -> Report:
    last: dict[str, int] = {}

    def report(stage: str, done: int, total: int) -> None:
        tenth = -1 if total <= 0 else done * 10 // total
        if last.get(stage) == tenth:
            return
        last[stage] = tenth
        out.write(f"{stage}: {done}/{total}\n")
        out.flush()

    return report


@contextmanager
def _rich(out: TextIO) -> Iterator[Report]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

    tasks: dict[str, TaskID] = {}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(file=out)) as bar:

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield report
