"""``PostgresEventStore``: the production event store on PostgreSQL (asyncpg)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Collection, Sequence
from functools import partial

from forze.contracts import (
    AppendResult,
    ExpectedVersion,
    ExpectedVersionArg,
    NewEvent,
    RecordedEvent,
)
from forze.domain.errors import EventStoreUnavailable
from forze_eventstore import EventLimits
from forze_eventstore.adapter_kit import (
    DEFAULT_LIMITS,
    ArchivedSegment,
    KnownVersions,
    check_read_all,
    check_read_stream,
    check_segment,
    subscribe_to,
    validate_append,
)
from forze_postgres._appending import Appender, PostgresAppendHook, savepoint_if_pinned
from forze_postgres._archive import Archives
from forze_postgres._driver import Connection, asyncpg
from forze_postgres._event_ddl import migrations
from forze_postgres._event_reads import EventReads
from forze_postgres._event_rows import (
    Append,
    append_arguments,
    batch_arguments,
    check_limits,
    known_arguments,
    validate_batch,
)
from forze_postgres._event_sql import Statements, lock_key
from forze_postgres._inspection import check_event_schema, stream_list
from forze_postgres._wakeups import Wakeups
from forze_postgres.database import PostgresDatabase
from forze_postgres.errors import translated

__all__ = ["PostgresAppendHook", "PostgresEventStore"]

_MISMATCH = "FZ001"
"""SQLSTATE ``forze_append_many`` raises when a stream does not match its expectation."""


class PostgresEventStore(EventReads):
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

    The store remembers the latest committed version of up to ``remembered_streams``
    streams it appended to or read, so that an append to one of them is a plain insert at
    the next version, without reading the stream first; the unique key on the stream's
    versions refuses it when another writer got there first, and the store then reads the
    stream and tries again. This relies on a stream's last event never being deleted
    (archiving keeps it: see ``forze_postgres._archive``): after deleting events behind the
    store's back (a test fixture's ``TRUNCATE``, say), call
    :meth:`forget_versions`, or pass ``remembered_streams=0``.

    ``limits`` bounds what an append accepts and a subscription page's size (see
    ``forze_eventstore.limits``); the stream id and event type limits keep names within
    PostgreSQL's index entries, so they may not exceed ``MAX_NAME_LENGTH`` (600) characters.
    """

    def __init__(
        self,
        db: PostgresDatabase,
        *,
        poll_interval: float = 0.5,
        notify_interval: float = 0.005,
        remembered_streams: int = 10_000,
        limits: EventLimits = DEFAULT_LIMITS,
    ) -> None:
        self.db = db
        self._limits = check_limits(limits)
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
        self._appender = Appender(db, self._sql, self._tenant, self._wakeups, self._hooks)
        self._known = KnownVersions(remembered_streams)
        self._archives = Archives(db, self._lock)
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
        remembered_streams: int = 10_000,
        limits: EventLimits = DEFAULT_LIMITS,
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
        store = cls(
            db,
            poll_interval=poll_interval,
            notify_interval=notify_interval,
            remembered_streams=remembered_streams,
            limits=limits,
        )
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

    async def check_schema(self) -> None:
        """Refuse, writing nothing, a schema that does not exist, holds no forze event store
        (in this database's tenancy layout) or was migrated by another forze version, with a
        non-transient ``EventStoreUnavailable`` saying which. Inspection tools call this
        instead of :meth:`migrate`."""
        await self.db.retrying(partial(check_event_schema, self.db))

    async def list_streams(
        self, *, category: str | None = None, limit: int | None = None
    ) -> list[tuple[str, int]]:
        """Every committed stream id with its version, sorted by id (optionally of one
        category, at most ``limit``), for inspection tools."""
        return await self.db.retrying(partial(stream_list, self.db, category, limit))

    async def archive_segment(self, segment: ArchivedSegment) -> None:
        """See ``forze_eventstore.adapter_kit.StreamArchives.archive_segment``: one
        transaction holding the stream's append lock (see ``forze_postgres._archive``)."""
        check_segment(segment)
        await self._archives.archive(segment)

    async def archived_segments(self, stream_id: str) -> list[ArchivedSegment]:
        """See ``forze_eventstore.adapter_kit.StreamArchives.archived_segments``."""
        check_read_stream(stream_id, None, None)
        return await self._archives.segments(stream_id)

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
        """See ``EventStore.append``. Outside your transaction, an append whose connection
        was lost is sent once more on another (event ids make that safe: an append that had
        committed returns its original result)."""
        stream_id, events, expected_version = validate_append(
            stream_id, events, expected_version, limits=self._limits
        )
        try:
            return await self._append(stream_id, events, expected_version)
        except EventStoreUnavailable as error:
            if not await self.db.lost_outside_transaction(error):
                raise
        return await self._append(stream_id, events, expected_version)

    async def _append(
        self, stream_id: str, events: Sequence[NewEvent], expected_version: ExpectedVersionArg
    ) -> AppendResult:
        if self._hooks or self.db.in_transaction():
            values = append_arguments(stream_id, events, expected_version, self._limits)
            arguments = (*values, self._lock, False, None, *self._tenant)

            async def in_transaction() -> AppendResult:
                async with self.db.transaction() as connection:
                    await self.db.before_append(connection)
                    return await self._appender.append(
                        connection, stream_id, events, expected_version, arguments
                    )

            stored = await self._appender.retrying_own_transaction(in_transaction)
            self.db.after_commit(partial(self._known.saw, stream_id, stored.version))
            return stored
        # autocommitted: a fresh block, and the statement may carry the notification
        channel = self._wakeups.notification_due()
        known = self._known.next_version(stream_id, expected_version) if len(events) == 1 else None
        async with self.db.connection() as connection:
            result: AppendResult | None = None
            if known is not None:
                result = await self._appender.append_known(
                    connection,
                    stream_id,
                    known,
                    (
                        *known_arguments(stream_id, events[0], known, self._limits),
                        self._lock,
                        channel,
                        *self._tenant,
                    ),
                    channel is not None,
                )
            if result is None:  # the texts are made again: a refused guess is rare
                values = append_arguments(stream_id, events, expected_version, self._limits)
                result = await self._appender.append_alone(
                    connection,
                    stream_id,
                    events,
                    expected_version,
                    (*values, self._lock, True, channel, *self._tenant),
                    channel is not None,
                )
        self._known.saw(stream_id, result.version)
        return result

    async def append_many(self, appends: Sequence[Append]) -> list[AppendResult]:
        """Append to several streams atomically, in one round trip (imports, migrations).

        Each part is ``(stream_id, events, expected_version)`` with :meth:`append`'s meaning,
        and either every part is stored or none; positions follow the parts' order. The batch
        is one statement. When a stream does not match its expectation or an event id is
        already stored, the parts are appended one by one in one transaction instead, which
        gives each part :meth:`append`'s outcome: an idempotent re-append (a re-run import)
        returns the original results, and a ``ConcurrencyError`` rolls back the whole batch.
        With append hooks (inline projections) the parts are always appended one by one.
        Like :meth:`append`, a batch whose connection was lost is sent once more outside
        your transaction.
        """
        batch = validate_batch(appends, self._limits)
        if not batch:
            return []
        return await self.db.retrying(partial(self._append_many, batch))

    async def _append_many(self, batch: Sequence[Append]) -> list[AppendResult]:
        if self._hooks:
            return await self._append_each(batch)
        async with self.db.connection() as connection:
            await self.db.before_append(connection)
            with translated("append a batch"):
                try:
                    async with savepoint_if_pinned(connection):
                        row = await connection.fetchrow(
                            self._sql.append_many,
                            self._lock,
                            *batch_arguments(batch, self._limits),
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
            self.db.after_commit(partial(self._known.saw, stream_id, head))
        return results

    async def _append_each(self, batch: Sequence[Append]) -> list[AppendResult]:
        async def in_transaction() -> list[AppendResult]:
            async with self.db.transaction():
                return [await self.append(*part) for part in batch]

        return await self._appender.retrying_own_transaction(in_transaction)

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
            page_bytes=self._limits.page_bytes,
        ):
            yield event

    async def stream_version(self, stream_id: str) -> int:
        """See ``EventStore.stream_version``."""
        check_read_stream(stream_id, None, None)

        async def read() -> int:
            async with self.db.connection() as connection:
                return await self._appender.version(connection, stream_id)

        version = await self.db.retrying(read)
        if not self.db.in_transaction():
            self._known.saw(stream_id, version)
        return version

    def forget_versions(self) -> None:
        """Forget the streams' versions this store remembers (see the class docstring):
        needed only after events were deleted behind its back."""
        self._known.forget()

    async def count_events(self, *, after: int = 0) -> int:
        """See ``EventStore.count_events``: events below the watermark, after ``after``."""
        check_read_all(after, None, None, None)

        async def read() -> int:
            async with self.db.connection() as connection:
                with translated("count events"):
                    watermark = await self._watermark(connection)
                    sql = self._sql.count
                    return int(await connection.fetchval(sql, after, watermark, *self._tenant))

        return await self.db.retrying(read)

    async def head_position(self) -> int:
        """See ``EventStore.head_position``."""

        async def read() -> int:
            async with self.db.connection() as connection:
                with translated("head position"):
                    watermark = await self._watermark(connection)
                    head = await connection.fetchval(self._sql.head, watermark, *self._tenant)
                    return int(head or 0)

        return await self.db.retrying(read)

    async def close(self) -> None:
        """Stop notifying and listening; close the database too when :meth:`open` created it."""
        await self._wakeups.close()
        if self._owns_db:
            await self.db.close()
