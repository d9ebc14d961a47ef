"""Connections a ``PostgresDatabase`` keeps out of its pool between two uses."""

from __future__ import annotations

import contextlib

from forze_postgres._driver import Connection, asyncpg, is_open

__all__ = ["Reuse", "keep_for"]


class Reuse:
    """Connections kept out of the pool between two uses, at most ``keep`` of them.

    Releasing to an asyncpg pool and acquiring again cost a task and a few event-loop turns
    per call; a connection that comes back cleanly (open, no transaction left) is kept for the
    next call instead. Anything else goes back through the pool, which rolls back or discards
    it. Only pools a ``PostgresDatabase`` opened itself are used this way, and at most half of
    their connections are kept, so other users of the pool are never starved.
    """

    def __init__(self, pool: asyncpg.Pool, *, keep: int) -> None:
        self.pool, self.keep = pool, keep
        self.idle: list[Connection] = []
        self.draining = False
        self.waiting = 0
        """Callers inside ``pool.acquire``: while there are any, releases go to the pool, which
        hands the connection to the longest waiter (kept ones would starve it)."""

    def take_kept(self) -> Connection | None:
        """A kept connection that is still open, if there is one (and the pool is not
        closing). Kept connections that were closed meanwhile (by the server, say) are
        dropped: asyncpg gave them back to the pool when they closed."""
        while self.idle and not self.draining:
            connection = self.idle.pop()
            if is_open(connection):
                return connection
        return None

    async def acquire(self) -> Connection:
        kept = self.take_kept()
        if kept is not None:
            return kept
        self.waiting += 1
        try:
            connection: Connection = await self.pool.acquire()
        finally:
            self.waiting -= 1
        return connection

    async def release(self, connection: Connection, *, clean: bool) -> None:
        if (
            clean
            and not self.draining
            and not self.waiting
            and len(self.idle) < self.keep
            and is_open(connection)
            and not connection.is_in_transaction()
        ):
            self.idle.append(connection)
        else:
            await self._give_back(connection)

    async def _give_back(self, connection: Connection) -> None:
        """Release ``connection`` to the pool. asyncpg rolls back what was left open; when that
        fails (the connection is being lost) it terminates the connection and re-raises, which
        would hide the caller's outcome behind a driver error: the connection is gone anyway."""
        with contextlib.suppress(Exception):
            await self.pool.release(connection)

    async def drain(self, *, keep_on: bool = False) -> None:
        """Give every kept connection back to the pool, and (unless ``keep_on``) keep none
        from now on (the pool is closing: it waits for every connection still out of it)."""
        if not keep_on:
            self.draining = True
        while self.idle:
            await self._give_back(self.idle.pop())


def keep_for(pool: asyncpg.Pool) -> int:
    """How many connections of ``pool`` may be kept out of it between uses."""
    return max(1, pool.get_max_size() // 2)
