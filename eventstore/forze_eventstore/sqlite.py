"""``SQLiteEventStore``: the embedded, durable default event store."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import TracebackType

from forze.contracts import (
    AppendResult,
    ExpectedVersion,
    ExpectedVersionArg,
    NewEvent,
    RecordedEvent,
    category_of,
)
from forze.domain.errors import ConcurrencyError
from forze_eventstore._archive_kit import ArchivedSegment, check_segment, refuse_archived_gap
from forze_eventstore._sqlite_archive import (
    SEGMENTS_OF,
    archive_now,
    create_segments,
    decode_segments,
)
from forze_eventstore._sqlite_budget import read_page
from forze_eventstore._sqlite_rows import decode_page as _decode_page
from forze_eventstore.limits import (
    DEFAULT_LIMITS,
    EventLimits,
    check_encoded,
    check_max_bytes,
)
from forze_eventstore.rules import (
    StoredId,
    check_expected_version,
    check_read_all,
    check_read_stream,
    dump_json,
    idempotent_result,
    validate_append,
    validate_batch,
)
from forze_eventstore.sqlite_db import Migration, SQLiteDatabase, Synchronous
from forze_eventstore.subscriptions import CommitSignal, subscribe_to

__all__ = ["AppendHook", "SQLiteEventStore"]

AppendHook = Callable[[Sequence[RecordedEvent]], Awaitable[None]]
"""Runs inside an append's transaction with the events it stores (see ``add_append_hook``)."""

_COLUMNS = "event_id, event_type, data, metadata, stream_id, version, position, recorded_at"
_Row = tuple[int, str, int, bytes, str, str, str, str, int]
"""An inserted row: position, stream_id, version, event_id, event_type, category, data,
metadata, recorded_at."""


def _create_events(connection: sqlite3.Connection) -> None:
    connection.execute(
        "CREATE TABLE forze_events ("
        " position INTEGER PRIMARY KEY,"
        " stream_id TEXT NOT NULL,"
        " version INTEGER NOT NULL,"
        " event_id BLOB NOT NULL UNIQUE,"
        " event_type TEXT NOT NULL,"
        " category TEXT NOT NULL,"
        " data TEXT NOT NULL,"
        " metadata TEXT NOT NULL,"
        " recorded_at INTEGER NOT NULL,"
        " UNIQUE (stream_id, version))"
    )
    connection.execute("CREATE INDEX forze_events_by_type ON forze_events (event_type, position)")
    connection.execute("CREATE INDEX forze_events_by_category ON forze_events (category, position)")


MIGRATIONS: tuple[Migration, ...] = (_create_events, create_segments)
"""The event tables' schema steps, applied in order by ``SQLiteDatabase.migrate``: the events,
then the archived segments (``forze_eventstore._sqlite_archive``)."""


class SQLiteEventStore:
    """An event store in one SQLite file: durable, transactional, and fast for one process.

    Positions are assigned inside ``BEGIN IMMEDIATE`` transactions, which SQLite runs one at a
    time, so commit order is position order and readers can never see a gap fill in later.
    Subscribers in this process are woken on commit; writes from other processes are picked up
    by polling every ``poll_interval`` seconds. No call blocks the event loop: SQLite runs on
    the database's worker threads (see ``SQLiteDatabase``), and an append is one job there
    (begin, version check, insert, commit) unless append hooks await inside its transaction.

    ``read_only=True`` (for a path) inspects an existing store without changing the file (see
    ``SQLiteDatabase``); a file that is not a forze store raises ``EventStoreUnavailable``.
    A store whose schema is newer than this code's is refused in either mode.
    """

    def __init__(
        self,
        path: str | Path | SQLiteDatabase = ":memory:",
        *,
        synchronous: Synchronous = "FULL",
        poll_interval: float = 0.5,
        read_only: bool = False,
        limits: EventLimits = DEFAULT_LIMITS,
    ) -> None:
        self._owns_db = not isinstance(path, SQLiteDatabase)
        self.db = (
            path
            if isinstance(path, SQLiteDatabase)
            else SQLiteDatabase(path, synchronous=synchronous, read_only=read_only)
        )
        try:
            self.db.migrate("events", MIGRATIONS)
        except BaseException:
            self.close()
            raise
        self._signal = CommitSignal()
        self._poll_interval = poll_interval
        self._hooks: list[AppendHook] = []
        self._limits = limits
        """What an append accepts, and a subscription page's bytes (``forze_eventstore.limits``)."""

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersionArg = ExpectedVersion.ANY,
    ) -> AppendResult:
        """See ``EventStore.append``."""
        stream_id, events, expected_version = validate_append(
            stream_id, events, expected_version, limits=self._limits
        )
        category = category_of(stream_id)
        encoded = [
            (
                dump_json(e.data, what=f"data of {e.event_type!r}"),
                dump_json(e.metadata, what=f"metadata of {e.event_type!r}"),
            )
            for e in events
        ]
        for event, (data, metadata) in zip(events, encoded, strict=True):
            check_encoded(stream_id, event, data, metadata, self._limits)
        recorded_at = int(datetime.now(UTC).timestamp() * 1_000_000)
        insert = partial(
            self._insert, stream_id, events, expected_version, category, encoded, recorded_at
        )
        if not self._hooks:  # nothing to await inside: one job on the database's worker
            result, rows = await self.db.write(insert)
        else:
            async with self.db.transaction() as connection:
                result, rows = insert(connection)
                if rows:
                    recorded = _decode_page(
                        [(r[3], r[4], r[6], r[7], r[1], r[2], r[0], r[8]) for r in rows]
                    )
                    for hook in self._hooks:
                        await hook(recorded)
        if rows:
            self.db.after_commit(self._signal.notify)
        return result

    def _insert(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersionArg,
        category: str,
        encoded: list[tuple[str, str]],
        recorded_at: int,
        connection: sqlite3.Connection,
    ) -> tuple[AppendResult, list[_Row]]:
        """Check the expected version and insert the events, inside the append's transaction:
        the result and the rows inserted (none when the append was already stored)."""
        row = connection.execute(
            "SELECT MAX(version) FROM forze_events WHERE stream_id = ?", (stream_id,)
        ).fetchone()
        actual = row[0] or 0
        try:
            check_expected_version(stream_id, expected_version, actual)
        except ConcurrencyError:
            original = self._idempotent(connection, stream_id, events, expected_version, actual)
            if original is not None:
                return original, []
            raise
        head = connection.execute("SELECT MAX(position) FROM forze_events").fetchone()[0] or 0
        rows = [
            (
                head + offset,
                stream_id,
                actual + offset,
                event.event_id.bytes,
                event.event_type,
                category,
                data,
                metadata,
                recorded_at,
            )
            for offset, (event, (data, metadata)) in enumerate(zip(events, encoded, strict=True), 1)
        ]
        try:
            connection.executemany(
                "INSERT INTO forze_events (position, stream_id, version, event_id, event_type,"
                " category, data, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        except sqlite3.IntegrityError:
            original = self._idempotent(connection, stream_id, events, expected_version, actual)
            if original is not None:
                return original, []
            raise
        return AppendResult(stream_id, actual + len(events), head + len(events)), rows

    async def append_many(
        self, appends: Sequence[tuple[str, Sequence[NewEvent], ExpectedVersionArg]]
    ) -> list[AppendResult]:
        """See ``EventStore.append_many``: the parts' appends in one transaction."""
        batch = validate_batch(appends, limits=self._limits)
        async with self.db.transaction():
            return [await self.append(*part) for part in batch]

    def add_append_hook(self, hook: AppendHook) -> None:
        """Run ``hook`` inside every append's transaction, after its events are inserted.

        The hook sees the events as they will be read back; if it raises, the append is rolled
        back and the error reaches the appender. Inline projections use this to keep a read
        model consistent with the write.
        """
        self._hooks.append(hook)

    def _idempotent(
        self,
        connection: sqlite3.Connection,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersionArg,
        actual: int,
    ) -> AppendResult | None:
        ids = [event.event_id.bytes for event in events]
        places: dict[bytes, StoredId] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for event_id, stored_stream, version, position, *stored in connection.execute(
                "SELECT event_id, stream_id, version, position, event_type, data, metadata"
                f" FROM forze_events WHERE event_id IN ({marks})",
                chunk,
            ):
                event_type, data, metadata = stored
                places[event_id] = StoredId(
                    stored_stream,
                    version,
                    position,
                    event_type,
                    json.loads(data),
                    json.loads(metadata),
                )
        stored = [places.get(event_id) for event_id in ids]
        return idempotent_result(stream_id, events, expected_version, stored, actual)

    async def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        limit: int | None = None,
        backwards: bool = False,
        max_bytes: int | None = None,
    ) -> Sequence[RecordedEvent]:
        """See ``EventStore.read_stream``; ``max_bytes`` stops the page at that many bytes
        (see ``forze.contracts.CutPage``). A read that reaches archived versions raises
        ``StreamArchived`` (read through ``forze_eventstore.ArchivedReads``)."""
        check_read_stream(stream_id, from_version, limit)
        check_max_bytes(max_bytes)
        if backwards:
            sql = (
                f"SELECT {_COLUMNS} FROM forze_events WHERE stream_id = ? AND version <= ?"
                " ORDER BY version DESC LIMIT ?"
            )
            start = (1 << 62) if from_version is None else from_version
        else:
            sql = (
                f"SELECT {_COLUMNS} FROM forze_events WHERE stream_id = ? AND version >= ?"
                " ORDER BY version LIMIT ?"
            )
            start = 1 if from_version is None else from_version
        parameters = (stream_id, start, -1 if limit is None else limit)
        page = await read_page(self.db, sql, parameters, max_bytes, _decode_page)
        await refuse_archived_gap(
            self, stream_id, page, from_version=from_version, limit=limit, backwards=backwards
        )
        return page

    async def read_all(
        self,
        *,
        after: int = 0,
        limit: int | None = None,
        event_types: Collection[str] | None = None,
        categories: Collection[str] | None = None,
        max_bytes: int | None = None,
    ) -> Sequence[RecordedEvent]:
        """See ``EventStore.read_all``; ``max_bytes`` stops the page at that many bytes
        (see ``forze.contracts.CutPage``)."""
        check_read_all(after, limit, event_types, categories)
        check_max_bytes(max_bytes)
        where = ["position > ?"]
        parameters: list[object] = [after]
        for column, values in (("event_type", event_types), ("category", categories)):
            if values is not None:
                chosen = sorted(set(values))
                where.append(f"{column} IN ({','.join('?' * len(chosen))})")
                parameters.extend(chosen)
        parameters.append(-1 if limit is None else limit)
        sql = f"SELECT {_COLUMNS} FROM forze_events WHERE {' AND '.join(where)}"
        sql += " ORDER BY position LIMIT ?"
        return await read_page(self.db, sql, parameters, max_bytes, _decode_page)

    def subscribe(
        self,
        *,
        after: int = 0,
        event_types: Collection[str] | None = None,
        categories: Collection[str] | None = None,
    ) -> AsyncGenerator[RecordedEvent, None]:
        """See ``EventStore.subscribe``: woken on commit in-process, polling otherwise."""
        check_read_all(after, None, event_types, categories)
        return subscribe_to(
            self,
            self._signal,
            after=after,
            event_types=event_types,
            categories=categories,
            poll_interval=self._poll_interval,
            page_bytes=self._limits.page_bytes,
        )

    async def stream_version(self, stream_id: str) -> int:
        """See ``EventStore.stream_version``."""
        check_read_stream(stream_id, None, None)
        rows = await self.db.read(
            "SELECT MAX(version) FROM forze_events WHERE stream_id = ?", (stream_id,)
        )
        return int(rows[0][0] or 0)

    async def count_events(self, *, after: int = 0) -> int:
        """See ``EventStore.count_events``."""
        check_read_all(after, None, None, None)
        rows = await self.db.read("SELECT COUNT(*) FROM forze_events WHERE position > ?", (after,))
        return int(rows[0][0])

    async def head_position(self) -> int:
        """See ``EventStore.head_position``."""
        rows = await self.db.read("SELECT MAX(position) FROM forze_events")
        return int(rows[0][0] or 0)

    async def list_streams(
        self, *, category: str | None = None, limit: int | None = None
    ) -> list[tuple[str, int]]:
        """Every stream id with its version, sorted by id (optionally of one category, at
        most ``limit``), for inspection tools."""
        where = "" if category is None else " WHERE category = ?"
        rows = await self.db.read(
            f"SELECT stream_id, MAX(version) FROM forze_events{where} GROUP BY stream_id"
            " ORDER BY stream_id LIMIT ?",
            (*(() if category is None else (category,)), -1 if limit is None else limit),
        )
        return [(str(stream_id), int(version)) for stream_id, version in rows]

    async def archive_segment(self, segment: ArchivedSegment) -> None:
        """See ``forze_eventstore.adapter_kit.StreamArchives.archive_segment``: one write
        transaction, which SQLite runs alone (see ``forze_eventstore._sqlite_archive``)."""
        check_segment(segment)
        await self.db.write(partial(archive_now, segment))

    async def archived_segments(self, stream_id: str) -> list[ArchivedSegment]:
        """See ``forze_eventstore.adapter_kit.StreamArchives.archived_segments``."""
        check_read_stream(stream_id, None, None)
        return decode_segments(await self.db.read(SEGMENTS_OF, (stream_id,)))

    def close(self) -> None:
        """Close the database when this store opened it."""
        if self._owns_db:
            self.db.close()

    async def __aenter__(self) -> SQLiteEventStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
