"""``PostgresDatabase.connection()``: the calling task's transaction connection, or a pooled
one for the block."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import TYPE_CHECKING, Any

from forze_postgres._driver import Connection, abandoned

if TYPE_CHECKING:
    from forze_postgres.database import PostgresDatabase

__all__ = ["Borrowed", "current_task"]


class Borrowed:
    """``PostgresDatabase.connection()``: a class rather than a generator, because every
    statement of forze goes through it. A block whose caller gave up on a statement gives
    its connection back in the background (see ``Reuse.retire``)."""

    __slots__ = ("connection", "db", "pinned")

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db
        self.pinned = False
        self.connection: Connection | None = None

    async def __aenter__(self) -> Connection:
        pinned = self.db._pinned.get(current_task()) if self.db._pinned else None
        if pinned is not None:
            self.pinned = True
            return pinned
        # a kept connection is the common case: taken without a coroutine
        self.connection = self.db._reuse.take_kept() or await self.db._take()
        return self.connection

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.connection is not None:
            connection, self.connection = self.connection, None
            await self.db._reuse.release(
                connection, clean=exc_type is None, abandoned=abandoned(exc)
            )


def current_task() -> asyncio.Task[Any]:
    """The calling task (forze_postgres pins transactions to tasks)."""
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("forze_postgres must be used from an asyncio task")
    return task
