"""``SQLiteEventStore``: the embedded, durable default event store."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from uuid import UUID, SafeUUID

from forze.contracts import (
    AppendResult,
    ExpectedVersion,
    ExpectedVersionArg,
    NewEvent,
    RecordedEvent,
    category_of,
)
from forze.domain.errors import ConcurrencyError
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

_raw_decode = json.JSONDecoder().raw_decode
"""Stored JSON is written compact by ``dump_json``: no surrounding whitespace to skip."""

_COLUMNS = "event_id, event_type, data, metadata, stream_id, version, position, recorded_at"


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


MIGRATIONS: tuple[Migration, ...] = (_create_events,)
"""The event table's schema steps, applied in order by ``SQLiteDatabase.migrate``."""


class SQLiteEventStore:
    """An event store in one SQLite file: durable, transactional, and fast for one process.

    Positions are assigned inside ``BEGIN IMMEDIATE`` transactions, which SQLite runs one at a
    time, so commit order is position order and readers can never see a gap fill in later.
    Subscribers in this process are woken on commit; writes from other processes are picked up
    by polling every ``poll_interval`` seconds.
    """

    def __init__(
        self,
        path: str | Path | SQLiteDatabase = ":memory:",
        *,
        synchronous: Synchronous = "FULL",
        poll_interval: float = 0.5,
    ) -> None:
        self._owns_db = not isinstance(path, SQLiteDatabase)
        self.db = (
            path
            if isinstance(path, SQLiteDatabase)
            else SQLiteDatabase(path, synchronous=synchronous)
        )
        try:
            self.db.migrate("events", MIGRATIONS)
        except BaseException:
            self.close()
            raise
        self._signal = CommitSignal()
        self._poll_interval = poll_interval
        self._hooks: list[AppendHook] = []

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersionArg = ExpectedVersion.ANY,
    ) -> AppendResult:
        """See ``EventStore.append``."""
        stream_id, events, expected_version = validate_append(stream_id, events, expected_version)
        category = category_of(stream_id)
        encoded = [
            (
                dump_json(e.data, what=f"data of {e.event_type!r}"),
                dump_json(e.metadata, what=f"metadata of {e.event_type!r}"),
            )
            for e in events
        ]
        recorded_at = int(datetime.now(UTC).timestamp() * 1_000_000)
        async with self.db.transaction() as connection:
            row = connection.execute(
                "SELECT MAX(version) FROM forze_events WHERE stream_id = ?", (stream_id,)
            ).fetchone()
            actual = row[0] or 0
            try:
                check_expected_version(stream_id, expected_version, actual)
            except ConcurrencyError:
                original = self._idempotent(connection, stream_id, events, expected_version, actual)
                if original is not None:
                    return original
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
                for offset, (event, (data, metadata)) in enumerate(
                    zip(events, encoded, strict=True), 1
                )
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
                    return original
                raise
            if self._hooks:
                recorded = _decode_page(
                    [(r[3], r[4], r[6], r[7], r[1], r[2], r[0], r[8]) for r in rows]
                )
                for hook in self._hooks:
                    await hook(recorded)
            self.db.after_commit(self._signal.notify)
        return AppendResult(stream_id, actual + len(events), head + len(events))

    async def append_many(
        self, appends: Sequence[tuple[str, Sequence[NewEvent], ExpectedVersionArg]]
    ) -> list[AppendResult]:
        """See ``EventStore.append_many``: the parts' appends in one transaction."""
        batch = validate_batch(appends)
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
            for event_id, stored_stream, version, position in connection.execute(
                "SELECT event_id, stream_id, version, position FROM forze_events"
                f" WHERE event_id IN ({marks})",
                chunk,
            ):
                places[event_id] = StoredId(stored_stream, version, position)
        stored = [places.get(event_id) for event_id in ids]
        return idempotent_result(stream_id, events, expected_version, stored, actual)

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
        rows = self.db.read(sql, (stream_id, start, -1 if limit is None else limit))
        return _decode_page(rows)

    async def read_all(
        self,
        *,
        after: int = 0,
        limit: int | None = None,
        event_types: Collection[str] | None = None,
        categories: Collection[str] | None = None,
    ) -> Sequence[RecordedEvent]:
        """See ``EventStore.read_all``."""
        check_read_all(after, limit, event_types, categories)
        where = ["position > ?"]
        parameters: list[object] = [after]
        for column, values in (("event_type", event_types), ("category", categories)):
            if values is not None:
                chosen = sorted(set(values))
                where.append(f"{column} IN ({','.join('?' * len(chosen))})")
                parameters.extend(chosen)
        parameters.append(-1 if limit is None else limit)
        rows = self.db.read(
            f"SELECT {_COLUMNS} FROM forze_events WHERE {' AND '.join(where)}"
            " ORDER BY position LIMIT ?",
            parameters,
        )
        return _decode_page(rows)

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
        )

    async def stream_version(self, stream_id: str) -> int:
        """See ``EventStore.stream_version``."""
        check_read_stream(stream_id, None, None)
        rows = self.db.read(
            "SELECT MAX(version) FROM forze_events WHERE stream_id = ?", (stream_id,)
        )
        return int(rows[0][0] or 0)

    async def count_events(self, *, after: int = 0) -> int:
        """See ``EventStore.count_events``."""
        check_read_all(after, None, None, None)
        rows = self.db.read("SELECT COUNT(*) FROM forze_events WHERE position > ?", (after,))
        return int(rows[0][0])

    async def head_position(self) -> int:
        """See ``EventStore.head_position``."""
        rows = self.db.read("SELECT MAX(position) FROM forze_events")
        return int(rows[0][0] or 0)

    async def list_streams(self, *, limit: int | None = None) -> list[tuple[str, int]]:
        """Every stream id with its version, sorted by id (for inspection tools)."""
        rows = self.db.read(
            "SELECT stream_id, MAX(version) FROM forze_events GROUP BY stream_id"
            " ORDER BY stream_id LIMIT ?",
            (-1 if limit is None else limit,),
        )
        return [(str(stream_id), int(version)) for stream_id, version in rows]

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


def _decode_page(rows: list[Any]) -> list[RecordedEvent]:
    """Rows of ``_COLUMNS`` as recorded events, built with as little per-row work as possible.

    The tuple is made directly (no keyword parsing), ids skip ``UUID.__init__``'s argument
    checks, and events of one append share their parsed timestamp.
    """
    events: list[RecordedEvent] = []
    append = events.append
    last_stamp, last_time = -1, _EPOCH
    for event_id, event_type, data, metadata, stream_id, version, position, stamp in rows:
        if stamp != last_stamp:
            last_stamp, last_time = stamp, datetime.fromtimestamp(stamp / 1_000_000, UTC)
        append(
            _new_tuple(
                RecordedEvent,
                (
                    _uuid_from_bytes(event_id),
                    event_type,
                    _raw_decode(data)[0],
                    _raw_decode(metadata)[0],
                    stream_id,
                    version,
                    position,
                    last_time,
                ),
            )
        )
    return events


_EPOCH = datetime.fromtimestamp(0, UTC)
_new_tuple = tuple.__new__
_new_object = object.__new__
_set = object.__setattr__
_UNKNOWN = SafeUUID.unknown


def _uuid_from_bytes(raw: bytes) -> UUID:
    """``UUID(bytes=raw)`` for the 16 bytes the store wrote itself, without re-validation."""
    value: UUID = _new_object(UUID)
    _set(value, "int", int.from_bytes(raw, "big"))
    _set(value, "is_safe", _UNKNOWN)
    return value
