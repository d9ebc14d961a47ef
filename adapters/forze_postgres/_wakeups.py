"""How subscribers of a PostgreSQL event store learn that something was committed.

In this process, at once (the appender calls :meth:`Wakeups.committed` after its commit).
In other processes, through LISTEN/NOTIFY, at most once per ``notify_interval`` seconds, and
only while some LISTEN connection of the schema holds the listeners' lock: an
autocommitted append that finds a notification due carries the ``NOTIFY`` in its own
statement (no round trip of its own, and sent by its commit); appends that did not, such as
those inside a caller's transaction or a burst's later ones, leave a notification pending,
which a timer sends on its own once no append has carried one for two intervals. A separate
``NOTIFY`` every few milliseconds cost a single writer about a tenth of its throughput, and a
``NOTIFY`` in every append would serialise committing writers on the notification queue. The
LISTEN connection is reopened in the background when it dies. Subscribers also poll every
``poll_interval`` seconds, so a lost notification or connection only costs latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from forze_eventstore.adapter_kit import CommitSignal, raise_if_cancelled
from forze_postgres._driver import is_open
from forze_postgres._event_sql import listeners_lock
from forze_postgres.database import PostgresDatabase

__all__ = ["Wakeups"]

_LISTEN_WITHIN = 5.0
"""Seconds a subscriber waits for the LISTEN connection before it starts polling."""


class Wakeups:
    """The commit signal of one event store, its notifications and its LISTEN connection."""

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
        self._listeners_lock = listeners_lock(db.schema)
        self.signal = CommitSignal()
        """What this process's subscribers wait on."""
        self.poll_interval = poll_interval
        self.notify_interval = notify_interval
        self.listener: Any = None
        """The pooled connection LISTENing on the channel, if any."""
        # sent only if some LISTEN connection holds the listeners' lock (see _event_sql)
        self._notify = f"SELECT pg_notify('{channel}', '') WHERE NOT pg_try_advisory_xact_lock($1)"
        self._last = float("-inf")
        """When the latest notification was claimed (``time.monotonic()``)."""
        self._pending = False
        """Whether an append committed that no notification was claimed for since."""
        self._timer: asyncio.TimerHandle | None = None
        self._sender: asyncio.Task[None] | None = None
        self._relisten: asyncio.Task[None] | None = None
        self._listening = asyncio.Lock()

    def notification_due(self) -> str | None:
        """The channel, if the autocommitted append about to run should notify (it then
        carries ``pg_notify``); None if a notification went out less than an interval ago."""
        now = time.monotonic()  # not the loop's clock: getting the loop costs a system call
        if now - self._last < self.notify_interval:
            return None
        self._last = now
        return self.channel

    def committed(self, notified: bool = False) -> None:
        """An append committed (``notified``: its statement carried the notification): wake
        this process's subscribers now, other processes' soon."""
        self.signal.notify()
        if not notified:
            self._pending = True
            if self._timer is None:
                self._arm()

    def _arm(self) -> None:
        delay = self._last + 2 * self.notify_interval - time.monotonic()
        self._timer = asyncio.get_running_loop().call_later(max(0.0, delay), self._flush)

    def _flush(self) -> None:
        """Send the pending notification, unless appends still carry them (then look again)."""
        self._timer = None
        if not self._pending:
            return
        loop = asyncio.get_running_loop()
        if time.monotonic() < self._last + 2 * self.notify_interval:
            self._arm()
            return
        self._pending = False
        self._last = time.monotonic()
        self._sender = loop.create_task(self._send())

    async def _send(self) -> None:
        # A failed notification only delays other processes' subscribers until they poll.
        with contextlib.suppress(Exception):
            async with self.db.connection() as connection:
                await connection.execute(self._notify, self._listeners_lock)

    async def listen(self) -> None:
        """Open the LISTEN connection once. If that fails, or takes longer than
        ``_LISTEN_WITHIN`` seconds (a busy pool, a slow server), subscribers poll meanwhile
        and it is tried again in the background."""
        async with self._listening:
            if (self.listener is not None and is_open(self.listener)) or self.db.closed:
                return
            self.listener = None
            try:
                async with asyncio.timeout(_LISTEN_WITHIN):
                    listener = await self._open_listener()
            except Exception:  # any failure (a broken pooled connection, too): poll meanwhile
                self._listen_later(None)
                return
            listener.add_termination_listener(self._listener_lost)
            self.listener = listener

    async def _open_listener(self) -> Any:
        listener = await self.db.acquire()
        try:
            # held while listening, so that appenders know someone listens
            await listener.execute("SELECT pg_advisory_lock_shared($1)", self._listeners_lock)
            await listener.add_listener(self.channel, self._wake)
        except BaseException:
            await self._let_go(listener)
            raise
        return listener

    async def _let_go(self, listener: Any) -> None:
        """Stop listening on ``listener`` and give it back (its session keeps nothing). If
        that fails or takes more than ``_LISTEN_WITHIN`` seconds (the server cannot be
        reached), the connection is dropped instead, which ends its session too."""
        try:
            async with asyncio.timeout(_LISTEN_WITHIN):
                await listener.remove_listener(self.channel, self._wake)
                await listener.execute("SELECT pg_advisory_unlock_shared($1)", self._listeners_lock)
        except BaseException as error:
            await self.db.release(listener, close=True)
            if not isinstance(error, Exception):
                raise
            return
        await self.db.release(listener)

    def _listener_lost(self, connection: Any) -> None:
        """The LISTEN connection died: reconnect in the background; subscribers poll meanwhile."""
        if connection is not self.listener:
            return
        self.listener = None
        self._listen_later(connection)

    def _listen_later(self, lost: Any) -> None:
        """Listen again from a background task (giving ``lost`` back first, if any)."""
        if self._relisten is None or self._relisten.done():
            self._relisten = asyncio.get_running_loop().create_task(self._reconnect(lost))

    async def _reconnect(self, lost: Any) -> None:
        if lost is not None:
            with contextlib.suppress(Exception):
                await self.db.release(lost)
        delay = 0.05
        while not self.db.closed:  # closing the database closed the LISTEN connection
            await self.listen()
            raise_if_cancelled()  # a driver's wait_for may have swallowed the cancel (3.11)
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
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in (self._sender, self._relisten):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._sender = self._relisten = None
        listener, self.listener = self.listener, None
        if listener is not None:
            listener.remove_termination_listener(self._listener_lost)
            await self._let_go(listener)
