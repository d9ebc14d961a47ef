"""Connections a ``PostgresDatabase`` keeps out of its pool between two uses."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from forze_postgres._driver import Connection, asyncpg, drop, is_open

__all__ = ["Reuse", "keep_for"]


class Reuse:
    """Connections kept out of the pool between two uses, at most ``keep`` of them.

    Releasing to an asyncpg pool and acquiring again cost a task and a few event-loop turns
    per call; a connection that comes back cleanly (open, no transaction left) is kept for the
    next call instead. Anything else goes back through the pool, which rolls back or discards
    it. Only pools a ``PostgresDatabase`` opened itself are used this way, and at most half of
    their connections are kept, so other users of the pool are never starved.

    A connection whose caller gave up on a statement (see ``_driver.abandoned``) is given
    back by a background task instead, within ``budget`` seconds (see :meth:`retire`).
    """

    def __init__(self, pool: asyncpg.Pool, *, keep: int) -> None:
        self.pool, self.keep = pool, keep
        self.idle: list[Connection] = []
        self.draining = False
        """The pool is closing: nothing is kept any more, and nothing more is lent."""
        self.lent: set[Connection] = set()
        """Connections lent for long (the LISTEN connections) and not given back yet."""
        self.budget = 30.0
        """Seconds a retired connection may take to come back before it is dropped, and
        ``PostgresDatabase.close`` waits for connections in use (the command timeout)."""
        self.retiring: set[asyncio.Task[None]] = set()
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

    async def acquire(self, *, lend: bool = False) -> Connection:
        """A kept connection, or one from the pool; ``lend``: for long, tracked in
        :attr:`lent` until it is released (or dropped by :meth:`drop_lent`)."""
        connection = self.take_kept()
        if connection is None:
            self.waiting += 1
            try:
                connection = await self.pool.acquire()
            finally:
                self.waiting -= 1
        if lend:
            self.lent.add(connection)
        return connection

    async def release(
        self, connection: Connection, *, clean: bool, abandoned: bool = False
    ) -> None:
        """Keep ``connection`` for the next call if it came back ``clean``, else give it back
        to the pool; :meth:`retire` it if it was ``abandoned`` (see ``_driver.abandoned``)."""
        self.lent.discard(connection)
        if abandoned:
            self.retire(connection)
        elif (
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

    def retire(self, connection: Connection, transaction: Any = None) -> None:
        """Give back, from a background task, a connection whose statement was cancelled or
        timed out (rolling back ``transaction``, the asyncpg transaction it holds, if any).

        asyncpg has sent the server a cancel request, and waits for it before the connection
        can be used again: the caller does not wait. When the server answers, the connection
        goes back to the pool as usual (and the server stopped the statement, and released
        its locks, at once). When it does not within :attr:`budget` seconds (a network
        partition), the connection is dropped; the server ends that session when its
        keepalives find the client gone.
        """
        self.lent.discard(connection)
        task = asyncio.get_running_loop().create_task(self._retire(connection, transaction))
        self.retiring.add(task)
        task.add_done_callback(self.retiring.discard)

    async def _retire(self, connection: Connection, transaction: Any) -> None:
        try:
            async with asyncio.timeout(self.budget):
                if transaction is not None and is_open(connection):
                    with contextlib.suppress(asyncpg.InterfaceError):  # it had not begun
                        await transaction.rollback()
                await self.pool.release(connection)
        except Exception:  # the budget ran out, or the connection failed: nobody to tell
            drop(connection)
        except BaseException:
            drop(connection)
            raise

    async def settle(self) -> None:
        """Wait for the connections being retired (the pool has been closed or terminated)."""
        while self.retiring:
            await asyncio.gather(*self.retiring, return_exceptions=True)

    def drop_lent(self) -> None:
        """Close every connection lent and not given back (the pool is closing: its owner
        forgot them, and the pool would wait for them for ever)."""
        lent, self.lent = self.lent, set()
        for connection in lent:
            drop(connection)


def keep_for(pool: asyncpg.Pool) -> int:
    """How many connections of ``pool`` may be kept out of it between uses."""
    return max(1, pool.get_max_size() // 2)
