"""Opening a SQLite store read-only, refusing foreign and newer files, and undecodable rows."""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forze import NewEvent
from forze.domain.errors import EventStoreUnavailable, ReadOnlyOperationError, SerializationError
from forze_eventstore import SQLiteDatabase, SQLiteEventStore
from tests.sqlite_support import foreign_database


def _fingerprint(directory: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of ``directory`` with its bytes and modification time."""
    return {
        path.name: (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(directory.iterdir())
    }


async def _store_with_events(path: Path, count: int = 3) -> None:
    async with SQLiteEventStore(path) as store:
        for n in range(count):
            await store.append(f"order-{n}", [NewEvent("Placed", {"n": n})])


async def test_a_read_only_store_reads_a_closed_store_without_leaving_files_or_changes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.sqlite"
    await _store_with_events(path)
    before = _fingerprint(tmp_path)
    async with SQLiteEventStore(path, read_only=True) as store:
        assert await store.head_position() == 3
        assert [e.data["n"] for e in await store.read_all()] == [0, 1, 2]
        assert await store.list_streams() == [("order-0", 1), ("order-1", 1), ("order-2", 1)]
    assert _fingerprint(tmp_path) == before


@pytest.mark.parametrize("journal_mode", ["DELETE", "WAL"])
def test_a_read_only_store_refuses_another_applications_database_and_leaves_it_as_it_was(
    tmp_path: Path, journal_mode: str
) -> None:
    path = tmp_path / "app.db"
    foreign_database(path, journal_mode=journal_mode)
    before = _fingerprint(tmp_path)
    with pytest.raises(EventStoreUnavailable, match="is not a forze store") as refused:
        SQLiteEventStore(path, read_only=True)
    assert not refused.value.transient
    assert _fingerprint(tmp_path) == before
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0].upper() == journal_mode
    assert connection.execute("SELECT name FROM sqlite_master").fetchall() == [("users",)]
    connection.close()


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "no forze event table"), (b"hello\n" * 200, "not a SQLite database")],
    ids=["empty-file", "text-file"],
)
def test_a_read_only_store_refuses_a_file_that_is_not_a_database_and_leaves_it_as_it_was(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    before = _fingerprint(tmp_path)
    with pytest.raises(EventStoreUnavailable, match=f"is not a forze store: it .*{reason}"):
        SQLiteEventStore(path, read_only=True)
    assert _fingerprint(tmp_path) == before


def test_a_read_only_database_refuses_a_missing_file_without_creating_it(tmp_path: Path) -> None:
    with pytest.raises(EventStoreUnavailable, match="no SQLite file"):
        SQLiteDatabase(tmp_path / "missing.sqlite", read_only=True)
    assert list(tmp_path.iterdir()) == []


async def test_a_read_only_store_refuses_to_write(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    await _store_with_events(path)
    before = _fingerprint(tmp_path)
    async with SQLiteEventStore(path, read_only=True) as store:
        with pytest.raises(ReadOnlyOperationError, match="read-only"):
            await store.append("order-9", [NewEvent("Placed", {})])
    assert _fingerprint(tmp_path) == before


async def test_a_read_only_store_sees_the_commits_of_a_writer_that_starts_after_it_opened(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.sqlite"
    await _store_with_events(path, count=1)
    async with SQLiteEventStore(path, read_only=True) as reader:
        assert await reader.head_position() == 1
        async with SQLiteEventStore(path) as writer:
            await writer.append("order-7", [NewEvent("Placed", {"n": 7})])
            assert await reader.head_position() == 2
            await writer.append("order-8", [NewEvent("Placed", {"n": 8})])
            assert [e.data["n"] for e in await reader.read_all(after=1)] == [7, 8]
        async with SQLiteEventStore(path) as writer:
            await writer.append("order-9", [NewEvent("Placed", {"n": 9})])
        assert await reader.head_position() == 4


async def test_a_read_only_store_sees_the_commits_of_a_writer_that_came_and_went_meanwhile(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.sqlite"
    await _store_with_events(path, count=1)
    async with SQLiteEventStore(path, read_only=True) as reader:
        assert await reader.head_position() == 1
        await _store_with_events(path, count=3)
        assert not os.path.exists(f"{path}-wal")  # noqa: ASYNC240 (a test's quick look)
        assert [e.stream_id for e in await reader.read_all(after=1)] == [
            "order-0",
            "order-1",
            "order-2",
        ]


@pytest.mark.parametrize("read_only", [False, True], ids=["writable", "read-only"])
async def test_a_store_written_by_a_newer_forze_is_refused_and_left_alone(
    tmp_path: Path, read_only: bool
) -> None:
    path = tmp_path / "events.sqlite"
    await _store_with_events(path)
    connection = sqlite3.connect(path)
    connection.execute("UPDATE forze_migrations SET version = 99 WHERE component = 'events'")
    connection.commit()
    connection.close()
    before = _fingerprint(tmp_path)
    with pytest.raises(EventStoreUnavailable, match=r"newer forze.*version 99, this forze knows 2"):
        SQLiteEventStore(path, read_only=read_only)
    assert _fingerprint(tmp_path) == before


def _damage(path: Path, position: int, column: str, value: object) -> None:
    connection = sqlite3.connect(path)
    connection.execute(
        f"UPDATE forze_events SET {column} = ? WHERE position = ?", (value, position)
    )
    connection.commit()
    connection.close()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("data", '{"n": '),
        ("data", '{"n": 1}}'),
        ("data", "[1, 2]"),
        ("metadata", "not json"),
        ("data", b"\x00\x01"),
        ("event_id", b"short"),
        ("event_id", "sixteen chars id"),
    ],
    ids=["truncated", "trailing", "not-an-object", "metadata", "blob", "event-id", "text-id"],
)
async def test_a_stored_row_the_store_cannot_decode_raises_a_serialization_error_naming_it(
    tmp_path: Path, column: str, value: object
) -> None:
    path = tmp_path / "events.sqlite"
    await _store_with_events(path)
    _damage(path, 2, column, value)
    async with SQLiteEventStore(path) as store:
        with pytest.raises(SerializationError, match=re.escape("position 2 (stream 'order-1'")):
            await store.read_all()
        with pytest.raises(SerializationError, match=re.escape("position 2 (stream 'order-1'")):
            await store.read_stream("order-1")
        assert [e.position for e in await store.read_all(limit=1)] == [1]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(stored=st.text(max_size=30))
async def test_any_stored_data_text_is_either_a_json_object_or_a_serialization_error(
    tmp_path: Path, stored: str
) -> None:
    path = tmp_path / "events.sqlite"
    path.unlink(missing_ok=True)
    await _store_with_events(path, count=1)
    _damage(path, 1, "data", stored)
    async with SQLiteEventStore(path) as store:
        try:
            events = await store.read_all()
        except SerializationError as error:
            message = str(error)
        else:
            assert isinstance(events[0].data, dict)
            return
    assert "position 1 (stream 'order-0', version 1)" in message
