"""A progress line for long commands, drawn by rich."""

from __future__ import annotations

import io
import sys
import time
from types import TracebackType
from typing import Self, TextIO

from forze_cli._console import is_terminal, require_rich, terminal, write_renderable

__all__ = ["ProgressBar"]


class ProgressBar:
    """Shows ``label ━━━━━━━━╸━━━━━━ 45% 2250/5000 1,234/s 0:00:02`` on one line of ``stream``
    (standard error by default).

    On a terminal (or with ``force``) rich redraws it ten times a second; elsewhere (a pipe, a
    log file) nothing is drawn until :meth:`close`, which prints the final line in plain text,
    so logs keep the outcome. Used as a context manager, it closes when the block ends (on an
    error, off a terminal, without printing).
    """

    def __init__(
        self, label: str, total: int, *, stream: TextIO | None = None, force: bool = False
    ) -> None:
        require_rich()
        from rich.progress import (  # rich only when output is written (see forze_cli._console)
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        self.label = label
        self.total = max(total, 0)
        self.done = 0
        self._stream = stream or sys.stderr
        self._live = force or is_terminal(self._stream)
        self._started = time.perf_counter()
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=30),
            TaskProgressColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(elapsed_when_finished=True),
            console=terminal(self._stream, force=self._live),
            auto_refresh=self._live,
            refresh_per_second=10,
            redirect_stdout=False,  # the commands write to the streams they were given
            redirect_stderr=False,
        )
        self._closed = False
        self._task = self._progress.add_task(f"{label:<18}", total=self.total, rate="0/s")
        if self._live:
            self._progress.start()

    def update(self, done: int, *, total: int | None = None) -> None:
        """Record progress (absolute count) and, with ``total``, a new total."""
        self.done = done
        if total is not None:
            self.total = max(total, 0)
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        self._progress.update(
            self._task, completed=done, total=self.total, rate=f"{done / elapsed:,.0f}/s"
        )

    def advance(self, count: int = 1) -> None:
        """Record ``count`` more done."""
        self.update(self.done + count)

    def line(self) -> str:
        """The text of the line as it stands, without styles."""
        text = io.StringIO()
        write_renderable(self._progress.get_renderable(), text)
        return text.getvalue().rstrip()

    def close(self) -> None:
        """Print the final line and end it (once; later calls do nothing)."""
        if self._closed:
            return
        self._closed = True
        if self._live:
            self._progress.stop()
        else:
            write_renderable(self._progress.get_renderable(), self._stream)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the bar; when the work failed, only a live bar is ended (the terminal gets
        its cursor back) and off a terminal the error stays the one line printed."""
        if error is not None and not self._live:
            self._closed = True
        self.close()
