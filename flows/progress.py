"""Progress of long work: a rich progress bar on a terminal, plain lines otherwise.

Long commands (training per pollutant and lead, backtests, backfills, verification) take a
``progress`` callable that receives one line per step. :class:`LineProgress` is that callable:
on a terminal it shows a rich bar (or a spinner when the number of steps is unknown) with the
latest line, the step count and the elapsed time; when output goes to a file or a pipe (the
scheduler, CI, ``| tee``) it prints plain time-stamped lines instead, one per step.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import IO, Any

__all__ = ["LineProgress"]


class LineProgress:
    """A ``progress(line)`` callable for long work, used as a context manager.

    Parameters
    ----------
    title : str
        What the work is (``training``, ``backfill 2026-01-01 … 2026-01-30``).
    total : int, optional
        Number of steps when known (a bar), else a spinner with a step count.
    stream : file, optional
        Where to write (default ``sys.stdout``).
    force_terminal : bool, optional
        Override terminal detection (tests).

    Examples
    --------
    >>> with LineProgress("training", stream=sys.stdout, force_terminal=False) as p:
    ...     p("pm25 lead 1")  # doctest: +SKIP
    """

    def __init__(self, title: str, total: int | None = None, *, stream: IO[str] | None = None,
                 force_terminal: bool | None = None) -> None:
        self.title = title
        self.total = total
        self.stream = stream or sys.stdout
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.terminal = bool(isatty()) if force_terminal is None else force_terminal
        self.done = 0
        self._t0 = time.monotonic()
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> LineProgress:
        if self.terminal:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            cols: list[Any] = [SpinnerColumn(), TextColumn("[bold]{task.description}")]
            if self.total:
                cols += [BarColumn(), MofNCompleteColumn()]
            else:
                cols += [TextColumn("{task.completed} steps")]
            cols += [TimeElapsedColumn(), TextColumn("{task.fields[line]}")]
            self._progress = Progress(*cols, console=Console(file=self.stream,
                                                             force_terminal=True))
            self._progress.start()
            self._task = self._progress.add_task(self.title, total=self.total, line="")
        else:
            self._plain(f"{self.title}: started" + (f" ({self.total} steps)" if self.total
                                                     else ""))
        return self

    def __call__(self, line: str) -> None:
        """One step done (``line`` says which)."""
        self.done += 1
        if self._progress is not None:
            self._progress.update(self._task, advance=1, line=str(line)[:80])
        else:
            count = f"{self.done}/{self.total}" if self.total else f"{self.done}"
            self._plain(f"{self.title} [{count}] {line}")

    def _plain(self, text: str) -> None:
        elapsed = time.monotonic() - self._t0
        self.stream.write(f"[{elapsed:7.1f} s] {text}\n")
        self.stream.flush()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        status = "failed" if exc_type is not None else "done"
        if not self.terminal or exc_type is None:
            self._plain(f"{self.title}: {status} after {self.done} steps")
