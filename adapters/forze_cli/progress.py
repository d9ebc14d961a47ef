"""A dependency-free progress bar for the terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar"]


class ProgressBar:
    """Draws ``label [#####.....] 45% 2250/5000 1,234/s ETA 2s`` on one terminal line.

    Redraws at most ten times a second, and only when the stream is a terminal (unless
    ``force``); :meth:`close` always prints the final line, so logs keep the outcome.
    """

    def __init__(
        self, label: str, total: int, *, stream: TextIO | None = None, force: bool = False
    ) -> None:
        self.label = label
        self.total = max(total, 1)
        self.done = 0
        self._stream = stream or sys.stderr
        self._live = force or self._stream.isatty()
        self._started = time.perf_counter()
        self._drawn = 0.0

    def update(self, done: int, *, total: int | None = None) -> None:
        """Record progress (absolute count) and redraw if it is time to."""
        self.done = done
        if total is not None:
            self.total = max(total, 1)
        now = time.perf_counter()
        if self._live and now - self._drawn >= 0.1:
            self._drawn = now
            self._stream.write("\r" + self.line())
            self._stream.flush()

    def advance(self, count: int = 1) -> None:
        """Record ``count`` more done."""
        self.update(self.done + count)

    def line(self) -> str:
        """The text of the bar as it stands."""
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        share = min(self.done / self.total, 1.0)
        filled = int(share * 30)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        return (
            f"{self.label:<18} [{'#' * filled}{'.' * (30 - filled)}] {share:4.0%} "
            f"{self.done}/{self.total} {rate:,.0f}/s ETA {left:.0f}s"
        )

    def close(self) -> None:
        """Print the final line and end it."""
        prefix = "\r" if self._live else ""
        self._stream.write(prefix + self.line() + "\n")
        self._stream.flush()
