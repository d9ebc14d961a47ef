"""What only the SQLite store can show: durability across reopening, several connections."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from forze import EventStoreUnavailable, NewEvent
from forze_eventstore import SQLiteDatabase, SQLiteEventStore
from forze_eventstore.testing.helpers import collect, new_events


async def test_idempotency_survives_closing_and_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    batch = new_events(3)
    async with SQLiteEventStore(path) as store:
        first = await store.append("s-1", batch)
    async with SQLiteEventStore(path) as reopened:
        assert await reopened.append("s-1", batch) == first
        assert await reopened.head_position() == 3
        assert [e.data["n"] for e in await reopened.read_stream("s-1")] == [0, 1, 2]


async def test_reopening_a_store_does_not_migrate_twice(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    for _ in range(3):
        async with SQLiteEventStore(path) as store:
            await store.append("s-1", new_events(1))
    with SQLiteDatabase(path) as database:
        assert await database.read(
            "SELECT version FROM forze_migrations WHERE component = 'events'"
        ) == [(2,)]
        assert await database.read("SELECT COUNT(*) FROM forze_events") == [(3,)]


async def test_a_subscriber_sees_events_written_through_another_connection(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.sqlite"
    async with (
        SQLiteEventStore(path, poll_interval=0.05) as reader,
        SQLiteEventStore(path) as writer,
    ):
        feed = reader.subscribe()
        waiting = asyncio.ensure_future(collect(feed, 2, seconds=3))
        await asyncio.sleep(0.01)
        await writer.append("s-1", new_events(2))
        assert [e.position for e in await waiting] == [1, 2]
        await feed.aclose()


async def test_a_writer_blocked_by_another_connection_gets_a_forze_error(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    async with SQLiteEventStore(path) as store:
        await store.append("s-1", new_events(1))
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            impatient = SQLiteDatabase(path, busy_timeout_ms=50)
            with pytest.raises(EventStoreUnavailable, match="locked"):
                await SQLiteEventStore(impatient).append("s-1", [NewEvent("E", {})])
            impatient.close()
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert await store.head_position() == 1


def test_a_file_that_cannot_be_opened_is_a_forze_error(tmp_path: Path) -> None:
    with pytest.raises(EventStoreUnavailable, match="cannot open"):
        SQLiteEventStore(tmp_path / "missing-folder" / "events.sqlite")


def test_a_file_that_is_not_a_database_is_a_forze_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database, just some words that are long enough " * 20)
    with pytest.raises(EventStoreUnavailable):
        SQLiteEventStore(path)
