"""``PostgresEventStore``: the production event store on PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Sequence
from decimal import Decimal
from typing import Any
from uuid import UUID

from forze.contracts import (
    AppendResult,
    ExpectedVersion,
    ExpectedVersionArg,
    NewEvent,
    RecordedEvent,
    category_of,
)
from forze.domain.errors import ConcurrencyError, InvalidInputError
from forze_eventstore import (
    CommitSignal,
    StoredId,
    check_expected_version,
    check_read_all,
    check_read_stream,
    dump_json,
    idempotent_result,
    subscribe_to,
    validate_append,
)
from forze_postgres._driver import Connection, asyncpg
from forze_postgres._event_ddl import migrations
from forze_postgres._event_sql import POSITION_BITS, Statements, lock_key
from forze_postgres.database import PostgresDatabase
from forze_postgres.errors import translated

__all__ = ["PostgresAppendHook", "PostgresEventStore"]

PostgresAppendHook = Callable[[Connection, Sequence[RecordedEvent]], Awaitable[None]]
"""Runs inside an append's transaction (see ``PostgresEventStore.add_append_hook``)."""

_raw_decode = json.JSONDecoder().raw_decode
_STRING_OR_BIG_FLOAT = re.compile(r'"(?:\\.|[^"\\])*"|(-?\d+(?:\.\d+)?[eE]\+\d+)')


def _jsonb_text(text: str) -> str:
    """``text`` with floats in exponent form (|x| >= 1e16) written out in full.

    JSONB keeps numbers as ``numeric``, which prints ``2.5e+16`` as ``25000000000000000``: read
    back, that is an int. Written as ``25000000000000000.0`` it stays a float, exactly.
    """
    if "e+" not in text and "E+" not in text:
        return text
    return _STRING_OR_BIG_FLOAT.sub(_written_out, text)


def _written_out(match: re.Match[str]) -> str:
    number = match.group(1)
    if number is None:
        return match.group(0)
    return f"{Decimal(float(number)):f}.0"


_MAX_BATCH = 1 << POSITION_BITS


class PostgresEventStore:
    """An ``EventStore`` on PostgreSQL that scales concurrent writers without a global lock.

    An append is one statement (one round trip): the stream's version check and bump, and the
    events' insert. Positions follow transaction ids (see ``forze_postgres._event_sql``), so the
    feed is gap-safe while writers of different streams never wait for each other; positions
    increase but are not consecutive.

    Subscribers in this process are woken as soon as an append commits. Subscribers elsewhere
    are woken by LISTEN/NOTIFY, sent after the commit from a background task, at most once per
    ``notify_interval`` seconds (the first append after a quiet spell notifies at once; a
    burst of appends shares one notification), because a ``NOTIFY`` in the append's own
    transaction serialises every committing writer on the server's notification queue. All
    subscribers also poll every ``poll_interval`` seconds as a safety net (a lost connection
    or notification only costs latency).
    """

    def __init__(
        self,
        db: PostgresDatabase,
        *,
        poll_interval: float = 0.5,
        notify_interval: float = 0.005,
    ) -> None:
        self.db = db
        self._sql = Statements(f'"{db.schema}"', tenant_column=db.tenant is not None)
        self._tenant: tuple[str, ...] = () if db.tenant is None else (db.tenant,)
        """The last parameter of every statement in the tenant-column layout."""
        self._lock = lock_key(db.schema)
        self._lock_halves = (self._lock >> 32, self._lock & 0xFFFFFFFF)
        self._signal = CommitSignal()
        self._poll_interval = poll_interval
        self._notify_interval = notify_interval
        self._notify_wanted: asyncio.Event | None = None
        self._notifier: asyncio.Task[None] | None = None
        self._relisten: asyncio.Task[None] | None = None
        self._listener: Any = None
        self._listening = asyncio.Lock()
        self._hooks: list[PostgresAppendHook] = []
        self._owns_db = False

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        schema: str = "public",
        poll_interval: float = 0.5,
        notify_interval: float = 0.005,
        max_size: int = 10,
    ) -> PostgresEventStore:
        """Connect to ``dsn`` and create or migrate the schema's tables."""
        store = cls(
            await PostgresDatabase.connect(dsn, schema=schema, max_size=max_size),
            poll_interval=poll_interval,
            notify_interval=notify_interval,
        )
        store._owns_db = True
        await store.migrate()
        return store

    async def migrate(self) -> None:
        """Create or upgrade the event tables (versioned and idempotent)."""
        await self.db.migrate("events", migrations(self.db.tenant is not None))

    def add_append_hook(self, hook: PostgresAppendHook) -> None:
        """Run ``hook(connection, events)`` inside every append's transaction.

        If it raises, the append is rolled back and the error reaches the appender (inline
        projections use this to stay consistent with the write).
        """
        self._hooks.append(hook)

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersionArg = ExpectedVersion.ANY,
    ) -> AppendResult:
        """See ``EventStore.append``."""
        stream_id, events, expected_version = validate_append(stream_id, events, expected_version)
        if len(events) > _MAX_BATCH:
            raise InvalidInputError(f"one append holds at most {_MAX_BATCH} events")
        data = [_jsonb_text(dump_json(e.data, what=f"data of {e.event_type!r}")) for e in events]
        metadata = [
            _jsonb_text(dump_json(e.metadata, what=f"metadata of {e.event_type!r}")) for e in events
        ]
        arguments = (
            stream_id,
            len(events),
            *_expectation(expected_version),
            [e.event_id for e in events],
            [e.event_type for e in events],
            data,
            metadata,
            category_of(stream_id),
            self._lock,
            *self._tenant,
        )
        if self._hooks or self.db.in_transaction():
            async with self.db.transaction() as connection:
                return await self._append_in(
                    connection, stream_id, events, expected_version, arguments
                )
        async with self.db.connection() as connection:
            return await self._append_in(connection, stream_id, events, expected_version, arguments)

    async def _append_in(
        self,
        connection: Connection,
        stream_id: str,
        events: Sequence[NewEvent],
        expected: ExpectedVersionArg,
        arguments: tuple[Any, ...],
    ) -> AppendResult:
        for _ in range(10):
            with translated(f"append to {stream_id!r}"):
                try:
                    async with _savepoint_if_pinned(connection):
                        row = await connection.fetchrow(self._sql.append, *arguments)
                        version: int | None = None if row is None else row[0]
                        position: int = 0 if row is None else (row[1] or 0)
                        if version is not None and self._hooks:
                            await self._run_hooks(connection, position, len(events))
                except asyncpg.UniqueViolationError:
                    actual = await self._version(connection, stream_id)
                    original = await self._idempotent(
                        connection, stream_id, events, expected, actual
                    )
                    if original is not None:
                        return original
                    raise
            if version is not None:
                self.db.after_commit(self._appended)
                return AppendResult(stream_id, version, position)
            actual = await self._version(connection, stream_id)
            original = await self._idempotent(connection, stream_id, events, expected, actual)
            if original is not None:
                return original
            check_expected_version(stream_id, expected, actual)
            # ANY (or STREAM_EXISTS) lost a race creating the stream: the row exists now.
        raise ConcurrencyError(stream_id, "ANY", await self._version(connection, stream_id))

    def _appended(self) -> None:
        """An append committed: wake this process's subscribers now, other processes' soon."""
        self._signal.notify()
        if self._notifier is None or self._notifier.done():
            self._notify_wanted = asyncio.Event()
            self._notifier = asyncio.get_running_loop().create_task(self._notify_loop())
        assert self._notify_wanted is not None
        self._notify_wanted.set()

    async def _notify_loop(self) -> None:
        """Send one NOTIFY per wanted wake-up, then rest ``notify_interval`` (coalescing)."""
        wanted = self._notify_wanted
        assert wanted is not None
        while True:
            await wanted.wait()
            wanted.clear()
            # A failed notification only delays other processes' subscribers until they poll.
            with contextlib.suppress(Exception):
                async with self.db.connection() as connection:
                    await connection.execute(self._sql.notify)
            await asyncio.sleep(self._notify_interval)

    async def _run_hooks(self, connection: Connection, last: int, count: int) -> None:
        rows = await connection.fetch(self._sql.own_events, last - count, last)
        recorded = _decode(rows)
        for hook in self._hooks:
            await hook(connection, recorded)

    async def _version(self, connection: Connection, stream_id: str) -> int:
        with translated(f"version of {stream_id!r}"):
            found = await connection.fetchval(self._sql.stream_version, stream_id, *self._tenant)
        return int(found or 0)

    async def _idempotent(
        self,
        connection: Connection,
        stream_id: str,
        events: Sequence[NewEvent],
        expected: ExpectedVersionArg,
        actual: int,
    ) -> AppendResult | None:
        with translated(f"append to {stream_id!r}"):
            rows = await connection.fetch(
                self._sql.places, [e.event_id for e in events], *self._tenant
            )
        places = {UUID(str(r[0])): StoredId(r[1], r[2], r[3]) for r in rows}
        stored = [places.get(e.event_id) for e in events]
        return idempotent_result(stream_id, events, expected, stored, actual)

    async def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        limit: int | None = None,
        backwards: bool = False,
    ) -> Sequence[RecordedEvent]:
        """See ``EventStore.read_stream``."""
        check_read_stream(stream_id, from_version, limit)
        if backwards:
            sql, start = self._sql.read_backwards, from_version or 2**31 - 1
        else:
            sql, start = self._sql.read_forwards, from_version or 1
        async with self.db.connection() as connection:
            with translated(f"read {stream_id!r}"):
                rows = await connection.fetch(sql, stream_id, start, limit, *self._tenant)
        return _decode(rows)

    async def read_all(
        self,
        *,
        after: int = 0,
        limit: int | None = None,
        event_types: Collection[str] | None = None,
        categories: Collection[str] | None = None,
    ) -> Sequence[RecordedEvent]:
        """See ``EventStore.read_all``: only positions no running transaction can precede."""
        check_read_all(after, limit, event_types, categories)
        types = None if event_types is None else list(event_types)
        cats = None if categories is None else list(categories)
        async with self.db.connection() as connection:
            with translated("read the feed"):
                rows = await connection.fetch(
                    self._sql.read_all, after, *self._lock_halves, types, cats, limit, *self._tenant
                )
        return _decode(rows)

    async def _watermark(self, connection: Connection) -> int:
        """No transaction that may still add events has an id below this (see _event_sql)."""
        watermark: int = await connection.fetchval(self._sql.watermark, *self._lock_halves)
        return watermark

    def subscribe(
        self,
        *,
        after: int = 0,
        event_types: Collection[str] | None = None,
        categories: Collection[str] | None = None,
    ) -> AsyncGenerator[RecordedEvent, None]:
        """See ``EventStore.subscribe``: LISTEN/NOTIFY wakes it, polling is the safety net."""
        check_read_all(after, None, event_types, categories)
        return self._subscribe(after, event_types, categories)

    async def _subscribe(
        self,
        after: int,
        event_types: Collection[str] | None,
        categories: Collection[str] | None,
    ) -> AsyncGenerator[RecordedEvent, None]:
        await self._listen()
        async for event in subscribe_to(
            self,
            self._signal,
            after=after,
            event_types=event_types,
            categories=categories,
            poll_interval=self._poll_interval,
        ):
            yield event

    async def _listen(self) -> None:
        """Open the LISTEN connection once; on failure, subscribers simply poll."""
        async with self._listening:
            if self._listener is not None and not self._listener.is_closed():
                return
            self._listener = None
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                listener = await self.db.pool.acquire()
                try:
                    await listener.add_listener(self._sql.channel, self._wake)
                except BaseException:
                    await self.db.pool.release(listener)
                    raise
                listener.add_termination_listener(self._listener_lost)
                self._listener = listener

    def _listener_lost(self, connection: Any) -> None:
        """The LISTEN connection died: reconnect in the background; subscribers poll meanwhile."""
        if connection is not self._listener:
            return
        self._listener = None
        if self._relisten is None or self._relisten.done():
            self._relisten = asyncio.get_running_loop().create_task(self._reconnect(connection))

    async def _reconnect(self, lost: Any) -> None:
        with contextlib.suppress(Exception):
            await self.db.pool.release(lost)
        delay = 0.05
        while True:
            await self._listen()
            if self._listener is not None:
                # Events may have committed while nobody listened: look now, not at the poll.
                self._signal.notify()
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, max(self._poll_interval, 1.0))

    def _wake(self, *_: object) -> None:
        self._signal.notify()

    async def stream_version(self, stream_id: str) -> int:
        """See ``EventStore.stream_version``."""
        check_read_stream(stream_id, None, None)
        async with self.db.connection() as connection:
            return await self._version(connection, stream_id)

    async def count_events(self, *, after: int = 0) -> int:
        """See ``EventStore.count_events``: events below the watermark, after ``after``."""
        check_read_all(after, None, None, None)
        async with self.db.connection() as connection:
            with translated("count events"):
                watermark = await self._watermark(connection)
                return int(
                    await connection.fetchval(self._sql.count, after, watermark, *self._tenant)
                )

    async def head_position(self) -> int:
        """See ``EventStore.head_position``."""
        async with self.db.connection() as connection:
            with translated("head position"):
                watermark = await self._watermark(connection)
                return int(await connection.fetchval(self._sql.head, watermark, *self._tenant) or 0)

    async def close(self) -> None:
        """Stop notifying and listening; close the database too when :meth:`open` created it."""
        for task in (self._notifier, self._relisten):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._notifier = self._relisten = None
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.remove_termination_listener(self._listener_lost)
            with contextlib.suppress(Exception):
                await listener.remove_listener(self._sql.channel, self._wake)
            await self.db.pool.release(listener)
        if self._owns_db:
            await self.db.close()


def _expectation(expected: ExpectedVersionArg) -> tuple[int | None, bool, bool]:
    """``($3 expected, $4 may update, $5 may create)`` of the append statement."""
    if expected is ExpectedVersion.ANY:
        return None, True, True
    if expected is ExpectedVersion.NO_STREAM or expected == 0:
        return None, False, True
    if expected is ExpectedVersion.STREAM_EXISTS:
        return None, True, False
    return int(expected), True, False


@contextlib.asynccontextmanager
async def _savepoint_if_pinned(connection: Connection) -> Any:
    """A savepoint when inside a transaction, so a failed statement does not abort it."""
    if connection.is_in_transaction():
        async with connection.transaction():
            yield
    else:
        yield


def _decode(rows: Sequence[Any]) -> list[RecordedEvent]:
    return [
        RecordedEvent(
            UUID(bytes=row[0].bytes),
            row[1],
            _raw_decode(row[2])[0],
            _raw_decode(row[3])[0],
            row[4],
            row[5],
            row[6],
            row[7],
        )
        for row in rows
    ]
