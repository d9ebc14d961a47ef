"""How subscribers of a PostgreSQL event store learn that something was committed.

In this process, at once (the appender calls :meth:`Wakeups.committed` after its commit).
In other processes, through LISTEN/NOTIFY: a background task sends one ``NOTIFY`` after the
commit and then rests ``notify_interval`` seconds, so a burst of appends shares one
notification (a ``NOTIFY`` inside each append's transaction would serialise every committing
writer on the server's notification queue). The LISTEN connection is reopened in the
background when it dies. Subscribers also poll every ``poll_interval`` seconds, so a lost
notification or connection only costs latency.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from forze_eventstore import CommitSignal
from forze_postgres._driver import asyncpg
from forze_postgres.database import PostgresDatabase

__all__ = ["Wakeups"]

_IDLE = 1.0
"""Seconds without appends after which the NOTIFY task ends."""


class Wakeups:
    """The commit signal of one event store, its NOTIFY sender and its LISTEN connection."""

    def __init__(
        self,
        db: PostgresDatabase,
        channel: str,
        *,
        poll_interval: float,
        notify_interval: float,
    ) -> None:
        self.db = db
        self.channel = channel
        self.signal = CommitSignal()
        """What this process's subscribers wait on."""
        self.poll_interval = poll_interval
        self.notify_interval = notify_interval
        self.listener: Any = None
        """The pooled connection LISTENing on the channel, if any."""
        self._notify = f"SELECT pg_notify('{channel}', '')"
        self._wanted: asyncio.Event | None = None
        self._notifier: asyncio.Task[None] | None = None
        self._relisten: asyncio.Task[None] | None = None
        self._listening = asyncio.Lock()

    def committed(self) -> None:
        """An append committed: wake this process's subscribers now, other processes' soon."""
        self.signal.notify()
        if self._notifier is None or self._notifier.done():
            self._wanted = asyncio.Event()
            self._notifier = asyncio.get_running_loop().create_task(self._notify_loop(self._wanted))
        assert self._wanted is not None
        self._wanted.set()

    async def _notify_loop(self, wanted: asyncio.Event) -> None:
        """Send one NOTIFY per wanted wake-up, then rest ``notify_interval`` (coalescing);
        end after a second without appends (the next append starts a new loop), so a store
        dropped without ``close`` leaves no task behind for long."""
        while True:
            try:
                async with asyncio.timeout(_IDLE):
                    await wanted.wait()
            except TimeoutError:
                if not wanted.is_set():  # else an append came as the timeout fired
                    return
            wanted.clear()
            # A failed notification only delays other processes' subscribers until they poll.
            with contextlib.suppress(Exception):
                async with self.db.connection() as connection:
                    await connection.execute(self._notify)
            await asyncio.sleep(self.notify_interval)

    async def listen(self) -> None:
        """Open the LISTEN connection once; on failure, subscribers simply poll."""
        async with self._listening:
            if self.listener is not None and not self.listener.is_closed():
                return
            self.listener = None
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                listener = await self.db.acquire()
                try:
                    await listener.add_listener(self.channel, self._wake)
                except BaseException:
                    await self.db.release(listener)
                    raise
                listener.add_termination_listener(self._listener_lost)
                self.listener = listener

    def _listener_lost(self, connection: Any) -> None:
        """The LISTEN connection died: reconnect in the background; subscribers poll meanwhile."""
        if connection is not self.listener:
            return
        self.listener = None
        if self._relisten is None or self._relisten.done():
            self._relisten = asyncio.get_running_loop().create_task(self._reconnect(connection))

    async def _reconnect(self, lost: Any) -> None:
        with contextlib.suppress(Exception):
            await self.db.release(lost)
        delay = 0.05
        while True:
            await self.listen()
            if self.listener is not None:
                # Events may have committed while nobody listened: look now, not at the poll.
                self.signal.notify()
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, max(self.poll_interval, 1.0))

    def _wake(self, *_: object) -> None:
        self.signal.notify()

    async def close(self) -> None:
        """Stop notifying and listening (the LISTEN connection goes back to the pool)."""
        for task in (self._notifier, self._relisten):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._notifier = self._relisten = None
        listener, self.listener = self.listener, None
        if listener is not None:
            listener.remove_termination_listener(self._listener_lost)
            with contextlib.suppress(Exception):
                await listener.remove_listener(self.channel, self._wake)
            await self.db.release(listener)
