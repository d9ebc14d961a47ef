"""MongoEventStore passes the archive contract, and archives without a transaction: two
archivers on two connections never lose or repeat an event, the feed and live subscribers
go on past archived positions, an interrupted archive never shows a stream with a hole,
and a database migrated by an older forze gets the segments' collection from migrate()."""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from forze.contracts import EventStore, RecordedEvent
from forze.domain.errors import (
    ConcurrencyError,
    EventStoreUnavailable,
    StreamArchived,
)
from forze_eventstore import ArchivedReads, ArchivePolicy, archive_cold_streams
from forze_eventstore.adapter_kit import ArchivedSegment
from forze_eventstore.local_storage import DirectoryObjectStorage
from forze_eventstore.testing import ArchiveContract
from forze_eventstore.testing.helpers import collect, new_event, new_events
from forze_mongo import MongoDatabase, MongoEventStore
from tests.mongo_support import MONGO_URL, fresh_database

CLOSED = ArchivePolicy(closed_by=frozenset({"Closed"}))


@asynccontextmanager
async def _store() -> AsyncIterator[MongoEventStore]:
    async with fresh_database() as db:
        store = MongoEventStore(db, poll_interval=0.05)
        await store.migrate()
        try:
            yield store
        finally:
            await store.close()


class TestMongoArchives(ArchiveContract):
    def open_store(self) -> AbstractAsyncContextManager[EventStore]:
        return _store()


@asynccontextmanager
async def _storage() -> AsyncIterator[DirectoryObjectStorage]:
    with tempfile.TemporaryDirectory() as root:
        yield DirectoryObjectStorage(Path(root))


async def _closed_stream(store: MongoEventStore, stream_id: str, events: int) -> None:
    await store.append(stream_id, [*new_events(events - 1), new_event("Closed")])


def _same(events: Sequence[RecordedEvent]) -> list[tuple[object, ...]]:
    return [
        (e.event_id, e.event_type, e.data, e.metadata, e.stream_id, e.version, e.position)
        for e in events
    ]


def _segment(events: list[RecordedEvent]) -> ArchivedSegment:
    return ArchivedSegment(
        events[0].stream_id,
        events[0].version,
        events[-1].version,
        events[0].position,
        events[-1].position,
        f"test/{events[0].version}",
        hashlib.sha256(b"x").hexdigest(),
        1,
        datetime.now(UTC),
    )


async def test_two_archivers_on_two_connections_neither_lose_nor_repeat_an_event() -> None:
    async with fresh_database() as db, _storage() as storage:
        other_db = MongoDatabase.connect(MONGO_URL, database=db.name)
        first, second = MongoEventStore(db), MongoEventStore(other_db)
        try:
            await first.migrate()
            await second.migrate()
            for n in range(10):
                await _closed_stream(first, f"account-{n}", 5)
            before = {f"account-{n}": await first.read_stream(f"account-{n}") for n in range(10)}
            moved = []
            for _ in range(2):  # a second round finds nothing left to move
                a, b = await asyncio.gather(
                    archive_cold_streams(first, storage, CLOSED),
                    archive_cold_streams(second, storage, CLOSED),
                )
                moved.append(a.events + b.events)
            assert moved == [10 * 4, 0]
            for store in (first, second):
                reads = ArchivedReads(store, storage)
                for stream_id, events in before.items():
                    assert _same(await reads.read_stream(stream_id)) == _same(events)
                    segments = await store.archived_segments(stream_id)
                    assert [(s.first_version, s.last_version) for s in segments] == [(1, 4)]
            assert await first.count_events() == 10
        finally:
            await first.close()
            await second.close()
            await other_db.close()


async def test_two_archivers_racing_on_one_segment_one_wins_and_the_other_changes_nothing() -> None:
    async with fresh_database() as db:
        other_db = MongoDatabase.connect(MONGO_URL, database=db.name)
        first, second = MongoEventStore(db), MongoEventStore(other_db)
        try:
            await first.migrate()
            for n in range(20):
                await _closed_stream(first, f"account-{n}", 4)
            segments = [
                _segment(list(await first.read_stream(f"account-{n}"))[:3]) for n in range(20)
            ]
            outcomes = await asyncio.gather(
                *(store.archive_segment(s) for s in segments for store in (first, second)),
                return_exceptions=True,
            )
            for pair in zip(outcomes[::2], outcomes[1::2], strict=True):
                assert sorted(type(o).__name__ for o in pair) == ["ConcurrencyError", "NoneType"]
            for n in range(20):
                found = await second.archived_segments(f"account-{n}")
                assert [(s.first_version, s.last_version) for s in found] == [(1, 3)]
                assert [
                    e.version for e in await first.read_stream(f"account-{n}", from_version=4)
                ] == [4]
            assert await first.count_events() == 20
        finally:
            await first.close()
            await second.close()
            await other_db.close()


async def test_the_feed_and_subscribers_go_on_promptly_past_archived_positions() -> None:
    async with _store() as store, _storage() as storage:
        live = store.subscribe()
        await _closed_stream(store, "account-1", 30)
        await store.append("account-2", new_events(2))
        assert len(await collect(live, 32, seconds=5)) == 32
        await archive_cold_streams(store, storage, CLOSED)
        remaining = await store.read_all()
        assert [(e.stream_id, e.version) for e in remaining] == [
            ("account-1", 30),
            ("account-2", 1),
            ("account-2", 2),
        ]
        assert await store.read_all(after=1, limit=1) == remaining[:1]
        assert await store.count_events(after=5) == 3
        feed = store.subscribe()  # from the start, across the archived positions
        assert _same(await collect(feed, 3, seconds=2)) == _same(remaining)
        more = await store.append("account-3", new_events(2))
        arrived = await collect(live, 2, seconds=2)  # the subscriber from before archiving
        assert [e.position for e in arrived][-1] == more.position
        assert [e.position for e in await collect(feed, 2, seconds=2)][-1] == more.position
        await live.aclose()
        await feed.aclose()


async def test_an_interrupted_archive_never_shows_a_hole_and_the_next_one_rolls_it_forward() -> (
    None
):
    async with _store() as store, _storage() as storage:
        await _closed_stream(store, "account-1", 6)
        before = await store.read_stream("account-1")
        raw = store.db.collection("events")
        documents = await raw.find({"stream_id": "account-1"}).sort("version", 1).to_list()
        await archive_cold_streams(store, storage, CLOSED)
        await raw.insert_many([documents[0], documents[2], documents[3]])  # 2 and 5 deleted
        for window in (
            {},
            {"from_version": 3},
            {"from_version": 3, "limit": 3},
            {"backwards": True},
            {"backwards": True, "from_version": 5},
        ):
            with pytest.raises(StreamArchived):
                await store.read_stream("account-1", **window)
        assert [
            e.version for e in await store.read_stream("account-1", from_version=3, limit=2)
        ] == [3, 4]
        reads = ArchivedReads(store, storage)
        assert _same(await reads.read_stream("account-1")) == _same(before)
        assert _same(await reads.read_stream("account-1", backwards=True)) == _same(before[::-1])
        await store.append("account-1", [new_event(), new_event("Closed")], 6)
        await archive_cold_streams(store, storage, CLOSED)
        assert await raw.count_documents({"stream_id": "account-1"}) == 1
        whole = await ArchivedReads(store, storage).read_stream("account-1")
        assert [e.version for e in whole] == list(range(1, 9))


async def test_a_segment_whose_events_are_not_all_in_the_store_is_refused_and_changes_nothing() -> (
    None
):
    async with _store() as store:
        await _closed_stream(store, "account-1", 5)
        events = list(await store.read_stream("account-1"))
        raw = store.db.collection("events")
        await raw.delete_one({"stream_id": "account-1", "version": 2})
        with pytest.raises(ConcurrencyError):
            await store.archive_segment(_segment(events[:3]))
        assert await store.archived_segments("account-1") == []
        assert await raw.count_documents({"stream_id": "account-1"}) == 4


async def test_a_database_migrated_by_an_older_forze_gets_the_segments_from_migrate() -> None:
    async with fresh_database() as db:
        old = MongoEventStore(db)
        await old.migrate()
        await _closed_stream(old, "account-1", 3)
        await db.database.drop_collection(db.prefix + "archived_segments")  # as before archives
        heads = db.collection("event_head")
        await heads.update_one({"_id": "head"}, {"$set": {"format": 1}})
        await old.close()
        store = MongoEventStore(db)
        await store.check_schema()  # read-only tools still open it
        assert await store.archived_segments("account-1") == []
        events = list(await store.read_stream("account-1"))
        with pytest.raises(EventStoreUnavailable, match="migrate") as refused:
            await store.archive_segment(_segment(events[:2]))
        assert not refused.value.transient
        assert await store.archived_segments("account-1") == []
        assert len(await store.read_stream("account-1")) == 3
        await store.migrate()
        head = await heads.find_one({"_id": "head"})
        assert head is not None
        assert head["format"] == 2, "a forze that knows only format 1 now refuses the store"
        await store.migrate()  # never lowered, nothing else changes
        assert (await heads.find_one({"_id": "head"}) or {})["format"] == 2
        indexes = await db.collection("archived_segments").index_information()
        assert any(
            info.get("unique") and [f for f, _ in info["key"]] == ["stream_id", "first_version"]
            for info in indexes.values()
        )
        await store.archive_segment(_segment(events[:2]))
        assert [s.last_version for s in await store.archived_segments("account-1")] == [2]
        (segment,) = await store.archived_segments("account-1")
        assert segment.archived_at.tzinfo is UTC
        await store.close()
