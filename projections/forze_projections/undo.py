"""``UndoLog``: transactions for in-memory stores, so they keep the projector's atomicity."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

__all__ = ["UndoLog"]


class UndoLog:
    """Records how to undo each write made by the task that holds the open unit of work.

    In-memory stores built with the same log call :meth:`record` before every change; a unit
    that fails runs the recorded steps backwards, so its writes vanish together. Units of
    different tasks run one at a time; writes of other tasks are never recorded, never undone.
    """

    def __init__(self) -> None:
        self._steps: list[Callable[[], None]] = []
        self._owner: asyncio.Task[Any] | None = None
        self._lock = asyncio.Lock()

    def record(self, undo: Callable[[], None]) -> None:
        """Remember ``undo`` if the calling task holds the open unit."""
        if self._owner is not None and self._owner is asyncio.current_task():
            self._steps.append(undo)

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[None]:
        """A unit of work: every recorded write is undone if the block raises."""
        task = asyncio.current_task()
        if self._owner is not None and self._owner is task:
            yield
            return
        async with self._lock:
            self._owner, self._steps = task, []
            try:
                yield
            except BaseException:
                self._undo_to(0)
                raise
            finally:
                self._owner, self._steps = None, []

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """Inside a unit: undo only this block's writes if it raises."""
        mark = len(self._steps)
        try:
            yield
        except BaseException:
            self._undo_to(mark)
            raise

    def _undo_to(self, mark: int) -> None:
        while len(self._steps) > mark:
            self._steps.pop()()
