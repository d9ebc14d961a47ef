"""``PostgresEventStore``: the production event store on PostgreSQL (asyncpg)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Sequence
from typing import Any, TypeVar
from uuid import UUID

from forze.contracts import (
    AppendResult,
    ExpectedVersion,
    ExpectedVersionArg,
    NewEvent,
    RecordedEvent,
)
from forze.domain.errors import ConcurrencyError
from forze_eventstore import (
    StoredId,
    check_expected_version,
    check_read_all,
    check_read_stream,
    idempotent_result,
    subscribe_to,
    validate_append,
)
from forze_postgres._driver import Connection, asyncpg
from forze_postgres._event_ddl import migrations
from forze_postgres._event_rows import Append, append_arguments, batch_arguments, validate_batch
from forze_postgres._event_sql import Statements, lock_key
from forze_postgres._wakeups import Wakeups
from forze_postgres.database import PostgresDatabase
from forze_postgres.errors import translated

__all__ = ["PostgresAppendHook", "PostgresEventStore"]

_T = TypeVar("_T")

_MISMATCH = "FZ001"
"""SQLSTATE ``forze_append_many`` raises when a stream does not match its expectation."""

PostgresAppendHook = Callable[[Connection, Sequence[RecordedEvent]], Awaitable[None]]
"""Runs inside an append's transaction (see ``PostgresEventStore.add_append_hook``)."""

_raw_decode = json.JSONDecoder().raw_decode


class PostgresEventStore:
    """An ``EventStore`` on PostgreSQL that scales concurrent writers without a global lock.

    An append is one statement (one round trip): the stream's version check and the events'
    insert. Positions follow transaction ids (see ``forze_postgres._event_sql``), so the feed
    is gap-safe while writers of different streams never wait for each other; positions
    increase but are not consecutive, and each stream's events follow its versions.

    Subscribers in this process are woken as soon as an append commits. Subscribers elsewhere
    are woken by LISTEN/NOTIFY at most once per ``notify_interval`` seconds: the first append
    after a quiet spell carries the ``NOTIFY`` in its own statement, and the later appends of
    a burst share the next one (see ``forze_postgres._wakeups``). All subscribers also poll
    every ``poll_interval`` seconds as a safety net (a lost connection or notification only
    costs latency).
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
        self._wakeups = Wakeups(
            db,
            self._sql.channel,
            poll_interval=poll_interval,
            notify_interval=notify_interval,
        )
        self._hooks: list[PostgresAppendHook] = []
        self._owns_db = False

    @classmethod
    async def open(
        cls,
        dsn_or_pool: str | asyncpg.Pool,
        *,
        schema: str = "public",
        tenant: str | None = None,
        poll_interval: float = 0.5,
        notify_interval: float = 0.005,
        max_size: int = 10,
    ) -> PostgresEventStore:
        """A store on a DSN (a pool of up to ``max_size`` connections, closed by
        :meth:`close`) or on your asyncpg pool (left open), its tables created or migrated.

        ``tenant`` chooses the tenant-column layout (see ``PostgresDatabase``).
        """
        if isinstance(dsn_or_pool, str):
            db = await PostgresDatabase.connect(
                dsn_or_pool, schema=schema, tenant=tenant, max_size=max_size
            )
        else:
            db = PostgresDatabase(dsn_or_pool, schema=schema, tenant=tenant)
        store = cls(db, poll_interval=poll_interval, notify_interval=notify_interval)
        store._owns_db = True
        try:
            await store.migrate()
        except BaseException:
            await store.close()
            raise
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
        values = append_arguments(stream_id, events, expected_version)
        if self._hooks or self.db.in_transaction():
            arguments = (*values, self._lock, False, None, *self._tenant)

            async def in_transaction() -> AppendResult:
                async with self.db.transaction() as connection:
                    await self.db.before_append(connection)
                    return await self._append_in(
                        connection, stream_id, events, expected_version, arguments
                    )

            return await self._retrying_own_transaction(in_transaction)
        # autocommitted: a fresh block, and the statement may carry the notification
        channel = self._wakeups.notification_due()
        arguments = (*values, self._lock, True, channel, *self._tenant)
        async with self.db.connection() as connection:
            return await self._append_in(
                connection, stream_id, events, expected_version, arguments, channel is not None
            )

    async def _retrying_own_transaction(self, work: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``work`` in a transaction; if it opened the transaction itself and was
        overtaken (see ``_Overtaken``), run it again, in a new transaction with a new id."""
        if self.db.in_transaction():
            return await work()
        for _ in range(_ATTEMPTS - 1):
            try:
                return await work()
            except _Overtaken:
                continue
        return await work()

    async def append_many(self, appends: Sequence[Append]) -> list[AppendResult]:
        """Append to several streams atomically, in one round trip (imports, migrations).

        Each part is ``(stream_id, events, expected_version)`` with :meth:`append`'s meaning,
        and either every part is stored or none; positions follow the parts' order. The batch
        is one statement. When a stream does not match its expectation or an event id is
        already stored, the parts are appended one by one in one transaction instead, which
        gives each part :meth:`append`'s outcome: an idempotent re-append (a re-run import)
        returns the original results, and a ``ConcurrencyError`` rolls back the whole batch.
        With append hooks (inline projections) the parts are always appended one by one.
        """
        batch = validate_batch(appends)
        if not batch:
            return []
        if self._hooks:
            return await self._append_each(batch)
        async with self.db.connection() as connection:
            await self.db.before_append(connection)
            with translated("append a batch"):
                try:
                    async with _savepoint_if_pinned(connection):
                        row = await connection.fetchrow(
                            self._sql.append_many,
                            self._lock,
                            *batch_arguments(batch),
                            *self._tenant,
                        )
                except asyncpg.UniqueViolationError:
                    row = None
                except asyncpg.PostgresError as error:
                    if error.sqlstate != _MISMATCH:
                        raise
                    row = None
        if row is None:
            return await self._append_each(batch)
        self.db.after_commit(self._wakeups.committed)
        heads, position = row[0], row[1]
        results = []
        for (stream_id, events, _), head in zip(batch, heads, strict=True):
            position += len(events)
            results.append(AppendResult(stream_id, head, position))
        return results

    async def _append_each(self, batch: Sequence[Append]) -> list[AppendResult]:
        async def in_transaction() -> list[AppendResult]:
            async with self.db.transaction():
                return [await self.append(*part) for part in batch]

        return await self._retrying_own_transaction(in_transaction)

    async def _append_in(
        self,
        connection: Connection,
        stream_id: str,
        events: Sequence[NewEvent],
        expected: ExpectedVersionArg,
        arguments: tuple[Any, ...],
        notifies: bool = False,
    ) -> AppendResult:
        """Run the append statement (``notifies``: it carries the notification)."""
        sql = self._sql.append_one if len(events) == 1 else self._sql.append
        pinned = connection.is_in_transaction()
        version: int | None
        position: int
        for _ in range(_ATTEMPTS):
            with translated(f"append to {stream_id!r}"):
                try:
                    if pinned:  # a savepoint: a failed statement must not abort the transaction
                        async with connection.transaction():
                            row = await connection.fetchrow(sql, *arguments)
                            version, position = _outcome(row)
                            if version is not None and self._hooks:
                                await self._run_hooks(connection, position, len(events))
                    else:  # an autocommitted statement: it fails or stores alone
                        row = await connection.fetchrow(sql, *arguments)
                        version, position = _outcome(row)
                except asyncpg.UniqueViolationError:
                    actual = await self._version(connection, stream_id)
                    original = await self._idempotent(
                        connection, stream_id, events, expected, actual
                    )
                    if original is not None:
                        return original
                    raise
            if version is not None:
                if pinned:
                    self.db.after_commit(self._wakeups.committed)
                else:
                    self._wakeups.committed(notified=notifies)
                return AppendResult(stream_id, version, position)
            actual = await self._version(connection, stream_id)
            original = await self._idempotent(connection, stream_id, events, expected, actual)
            if original is not None:
                return original
            check_expected_version(stream_id, expected, actual)
            if pinned and await self._overtaken(connection, stream_id):
                # A transaction with a later id appended to the stream since this one got
                # its id: its events would land below that stream's last ones.
                raise _Overtaken(stream_id, getattr(expected, "name", expected), actual)
            # ANY (or STREAM_EXISTS) lost a race creating the stream: the row exists now; or
            # an autocommitted append lost a race to a later id: the retry gets a new id.
        raise ConcurrencyError(stream_id, "ANY", await self._version(connection, stream_id))

    async def _run_hooks(self, connection: Connection, last: int, count: int) -> None:
        rows = await connection.fetch(self._sql.own_events, last - count, last)
        recorded = _decode(rows)
        for hook in self._hooks:
            await hook(connection, recorded)

    async def _overtaken(self, connection: Connection, stream_id: str) -> bool:
        with translated(f"version of {stream_id!r}"):
            return bool(await connection.fetchval(self._sql.overtaken, stream_id, *self._tenant))

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
        await self._wakeups.listen()
        async for event in subscribe_to(
            self,
            self._wakeups.signal,
            after=after,
            event_types=event_types,
            categories=categories,
            poll_interval=self._wakeups.poll_interval,
        ):
            yield event

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
        await self._wakeups.close()
        if self._owns_db:
            await self.db.close()


_ATTEMPTS = 10
"""Tries of an append that loses races it can win by trying again (see ``_Overtaken``)."""


class _Overtaken(ConcurrencyError):
    """A transaction with a later id appended to the stream after this one got its id.

    This one's events would land below that stream's last ones, so it stores nothing. An
    autocommitted append, or a transaction the store opened itself, tries again with a new
    id; in the caller's transaction it is the caller's ``ConcurrencyError`` to retry.
    """


def _outcome(row: Any) -> tuple[int | None, int]:
    """An append function's ``(new version, last position)``, or ``(None, 0)``: nothing
    stored (a mismatched expectation, or overtaken)."""
    if row is None or row[0] is None:
        return None, 0
    return int(row[0]), int(row[1])


@contextlib.asynccontextmanager
async def _savepoint_if_pinned(connection: Connection) -> Any:
    """A savepoint when inside a transaction, so a failed statement does not abort it."""
    if connection.is_in_transaction():
        async with connection.transaction():
            yield
    else:
        yield


def _decode(rows: Sequence[Any]) -> list[RecordedEvent]:
    # asyncpg's UUIDs are uuid.UUID instances (a subclass), equal and hashing alike: kept as is.
    return [
        RecordedEvent(
            row[0],
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
