"""The archive contract on the stores of forze_eventstore (PostgreSQL and MongoDB run it in
their own test modules), and what only the SQLite store can show: a file archived, closed
and reopened, and a file of the previous schema version migrated forward."""

from __future__ import annotations

import sqlite3
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from forze.contracts import EventStore
from forze.domain.errors import EventStoreUnavailable, StreamArchived
from forze_eventstore import (
    ArchivedReads,
    ArchivePolicy,
    DirectoryObjectStorage,
    InMemoryEventStore,
    SQLiteDatabase,
    SQLiteEventStore,
    archive_cold_streams,
)
from forze_eventstore.sqlite import MIGRATIONS
from forze_eventstore.testing import ArchiveContract
from forze_eventstore.testing.helpers import new_event, new_events

CLOSED = ArchivePolicy(closed_by=frozenset({"Closed"}))


class TestInMemoryArchives(ArchiveContract):
    @asynccontextmanager
    async def open_store(self) -> AsyncIterator[EventStore]:
        yield InMemoryEventStore(poll_interval=0.01)


class TestSQLiteArchivesInMemory(ArchiveContract):
    @asynccontextmanager
    async def open_store(self) -> AsyncIterator[EventStore]:
        async with SQLiteEventStore(":memory:", poll_interval=0.05) as store:
            yield store


class TestSQLiteArchivesOnAFile(ArchiveContract):
    @asynccontextmanager
    async def open_store(self) -> AsyncIterator[EventStore]:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "events.sqlite"
            async with SQLiteEventStore(path, synchronous="NORMAL", poll_interval=0.05) as store:
                yield store


async def test_a_reopened_sqlite_file_reads_archived_streams_whole_and_refuses_direct_reads(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.sqlite"
    storage = DirectoryObjectStorage(tmp_path / "archive")
    async with SQLiteEventStore(path) as store:
        await store.append("account-1", [*new_events(4), new_event("Closed")])
        await store.append("account-2", new_events(2))
        before = await store.read_stream("account-1")
        report = await archive_cold_streams(store, storage, CLOSED)
        assert (report.streams, report.events) == (1, 4)
    async with SQLiteEventStore(path) as reopened:
        whole = await ArchivedReads(reopened, storage).read_stream("account-1")
        assert [(e.event_id, e.version, e.position) for e in whole] == [
            (e.event_id, e.version, e.position) for e in before
        ]
        with pytest.raises(StreamArchived) as refused:
            await reopened.read_stream("account-1")
        assert refused.value.version == 1
        assert [s.last_version for s in await reopened.archived_segments("account-1")] == [4]
        assert await reopened.stream_version("account-1") == 5
        assert await reopened.count_events() == 3
        assert (await reopened.append("account-1", new_events(1), 5)).version == 6
        keys = [s.key for s in await reopened.archived_segments("account-1")]
    async with SQLiteEventStore(path, read_only=True) as inspected:
        assert [s.key for s in await inspected.archived_segments("account-1")] == keys
        with pytest.raises(StreamArchived):
            await inspected.read_stream("account-1", backwards=True)


async def test_a_sqlite_file_of_the_previous_schema_version_migrates_forward_and_can_be_archived(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.sqlite"
    with SQLiteDatabase(path) as old:
        assert old.migrate("events", MIGRATIONS[:-1]) == len(MIGRATIONS) - 1
    connection = sqlite3.connect(path)
    with connection:
        connection.executemany(
            "INSERT INTO forze_events (position, stream_id, version, event_id, event_type,"
            " category, data, metadata, recorded_at) VALUES (?, 'account-1', ?, ?, ?,"
            " 'account', '{}', '{}', 0)",
            [(n, n, uuid.uuid4().bytes, "Closed" if n == 3 else "Noted") for n in (1, 2, 3)],
        )
    connection.close()
    with pytest.raises(EventStoreUnavailable, match="open it writable once"):
        SQLiteEventStore(path, read_only=True)
    storage = DirectoryObjectStorage(tmp_path / "archive")
    async with SQLiteEventStore(path) as store:
        assert store.db.schema_version("events") == len(MIGRATIONS)
        assert await store.archived_segments("account-1") == []
        before = await store.read_stream("account-1")
        assert (await archive_cold_streams(store, storage, CLOSED)).events == 2
        assert await store.read_stream("account-1", from_version=3) == before[2:]
        reads = ArchivedReads(store, storage)
        assert [e.event_id for e in await reads.read_stream("account-1")] == [
            e.event_id for e in before
        ]
    async with SQLiteEventStore(path, read_only=True) as inspected:
        assert [s.last_version for s in await inspected.archived_segments("account-1")] == [2]
