"""How commands print: on a terminal, rich tables, colour and progress bars; elsewhere (a pipe,
a file, a test) the same content as plain aligned text, one fact a line, no escape codes.

``show()`` prints lines and tables; ``table()`` and ``pairs()`` build the tables; ``Progress``
is a long job's bar (a plain line now and then when not on a terminal).
"""
from __future__ import annotations

import io
import sys
import time
from typing import IO, Any, Iterable, Sequence

from rich.console import Console, RenderableType
from rich.padding import Padding
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress
from rich.table import Table
from rich.text import Text

# Wide enough that plain text never wraps: a pipe reader wants whole lines.
PLAIN_WIDTH = 10_000

Cell = Any  # a str, a number, None (shown as "-"), or a rich Text with its style


def interactive(stream: IO[str] | None = None) -> bool:
    """Whether ``stream`` (default: stdout) is a terminal a person reads."""
    stream = stream or sys.stdout
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def cell(value: Cell, style: str = "") -> Text:
    """``value`` as a table cell: text taken literally (never rich markup), None as "-"."""
    if isinstance(value, Text):
        return value
    shown = "-" if value is None else "true" if value is True else "false" if value is False else str(value)
    return Text(shown, style=style)


def table(rows: Iterable[Sequence[Cell]], headers: Sequence[str] | None = None, indent: int = 0,
          first_width: int | None = None) -> RenderableType:
    """Rows in aligned columns (a header row when ``headers`` is given), ``indent`` spaces in;
    ``first_width`` lines up the first column with other tables'."""
    grid = Table(box=None, show_header=bool(headers), header_style="bold", pad_edge=False, padding=(0, 2, 0, 0))
    for header in headers or ():
        grid.add_column(header, overflow="fold")
    for row in rows:
        if not grid.columns:
            for _ in row:
                grid.add_column(overflow="fold")
        grid.add_row(*(cell(value) for value in row))
    if grid.columns:
        grid.columns[0].min_width = first_width
    return Padding(grid, (0, 0, 0, indent), expand=False) if indent else grid


def pairs(items: Iterable[tuple[Cell, Cell]], indent: int = 2, name_width: int | None = None) -> RenderableType:
    """Names and values, the values aligned in one column (at ``name_width`` or after the longest name)."""
    return table(items, indent=indent, first_width=name_width)


def show(*parts: RenderableType | str, stream: IO[str] | None = None) -> None:
    """Print each part (a line of text, or a table) on ``stream``, styled only on a terminal."""
    stream = stream or sys.stdout
    if interactive(stream):
        console = Console(file=stream, highlight=False, emoji=False)
        for part in parts:
            console.print(cell(part) if isinstance(part, str) else part, markup=False)
        return
    stream.write(plain(*parts))
    stream.flush()


def plain(*parts: RenderableType | str) -> str:
    """The parts as plain text: aligned, unwrapped, no trailing spaces, no escape codes."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=PLAIN_WIDTH, color_system=None, force_terminal=False,
                      highlight=False, emoji=False)
    for part in parts:
        console.print(cell(part) if isinstance(part, str) else part, markup=False, soft_wrap=isinstance(part, str))
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())


class Progress:
    """A long job's progress. On a terminal: one bar (done of total, elapsed time, a status
    line) with lines printed above it. Elsewhere: each ``say`` line as it comes, and the
    status as ``[TITLE 12.3s] STATUS`` at most every ``plain_every`` seconds, so logs stay
    short; the seconds count from ``started`` (a ``time.monotonic()``; default: now)."""

    def __init__(self, title: str, total: float | None = None, stream: IO[str] | None = None,
                 plain_every: float = 5.0, started: float | None = None) -> None:
        self.title, self.total = title, total
        self.stream = stream or sys.stdout
        self.plain_every = plain_every
        self.started = time.monotonic() if started is None else started
        self.tty = interactive(self.stream)
        self._bar: RichProgress | None = None
        self._task: Any = None
        self._said_at = float("-inf")

    def __enter__(self) -> Progress:
        if self.tty:
            columns = [TextColumn("[bold]{task.description}"), BarColumn(),
                       *([MofNCompleteColumn()] if self.total is not None else []),
                       TimeElapsedColumn(), TextColumn("{task.fields[status]}", markup=False)]
            self._bar = RichProgress(*columns, console=Console(file=self.stream, highlight=False))
            self._task = self._bar.add_task(self.title, total=self.total, status="")
            self._bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()

    def say(self, line: str, style: str = "") -> None:
        """A line of the job's story, printed above the bar (or as is)."""
        if self._bar is not None:
            self._bar.console.print(Text(line, style=style), markup=False, highlight=False)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()

    def update(self, done: float | None = None, *, total: float | None = None, status: str | None = None) -> None:
        """Move the bar to ``done`` (of ``total`` when it changes) and show ``status``."""
        if self._bar is not None:
            fields: dict[str, Any] = {} if status is None else {"status": status}
            self._bar.update(self._task, completed=done, total=total, **fields)
        elif status and time.monotonic() - self._said_at >= self.plain_every:
            self._said_at = time.monotonic()
            self.say(f"[{self.title} {time.monotonic() - self.started:7.1f}s] {status}")

    def advance(self, steps: float = 1, status: str | None = None) -> None:
        """One more step done."""
        if self._bar is not None:
            self._bar.advance(self._task, steps)
        self.update(status=status)

    def finish(self, status: str | None = None) -> None:
        """The job is done: the bar full, the last status shown (also when not on a terminal)."""
        if self._bar is not None:
            task = next(t for t in self._bar.tasks if t.id == self._task)
            self.update(task.total, status=status)
        elif status:
            self._said_at = float("-inf")
            self.update(status=status)


__all__ = ["Progress", "cell", "interactive", "pairs", "plain", "show", "table"]
