"""PostgresEventStore passes the archive contract against a real PostgreSQL server, in both
tenancy layouts; archivers of separate processes (pools) race safely, also with appenders;
and a schema of the previous migration step gains the segments table."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest

from forze import EventStoreUnavailable
from forze.contracts import EventStore, NewEvent
from forze_eventstore import (
    ArchivedReads,
    ArchivePolicy,
    DirectoryObjectStorage,
    archive_cold_streams,
)
from forze_eventstore.testing import ArchiveContract
from forze_eventstore.testing.helpers import new_event, new_events
from forze_postgres import PostgresDatabase, PostgresEventStore
from forze_postgres._event_ddl import migrations
from tests.postgres_support import fresh_schema

CLOSED = ArchivePolicy(closed_by=frozenset({"Closed"}))


class TestPostgresArchives(ArchiveContract):
    @pytest.fixture(autouse=True)
    def _dsn(self, postgres_dsn: str) -> None:
        self.dsn = postgres_dsn

    @asynccontextmanager
    async def open_store(self) -> AsyncIterator[EventStore]:
        async with fresh_schema(self.dsn) as db:
            store = PostgresEventStore(db, poll_interval=0.05)
            await store.migrate()
            try:
                yield store
            finally:
                await store.close()


class TestPostgresArchivesWithATenantColumn(TestPostgresArchives):
    @asynccontextmanager
    async def open_store(self) -> AsyncIterator[EventStore]:
        async with fresh_schema(self.dsn) as db:
            other = PostgresEventStore(db.for_tenant("other"))
            await other.migrate()
            await other.append("account-1", new_events(5))  # same stream id, other tenant
            store = PostgresEventStore(db.for_tenant("acme"), poll_interval=0.05)
            try:
                yield store
                assert len(await other.read_stream("account-1")) == 5
                assert await other.archived_segments("account-1") == []
            finally:
                await store.close()
                await other.close()


async def test_archivers_on_two_pools_racing_with_appenders_lose_and_repeat_no_event(
    postgres_dsn: str, tmp_path: Path
) -> None:
    """Two archivers as two processes would run them (a pool each) archive the same streams
    while a third pool appends to them: each stream's segments follow on from version 1,
    every event is either in one segment or in the store, and the stream reads whole."""
    storage = DirectoryObjectStorage(tmp_path)
    cold = ArchivePolicy(older_than=timedelta(hours=1))
    later = datetime.now(UTC) + timedelta(days=1)
    streams = [f"account-{n}" for n in range(20)]
    async with fresh_schema(postgres_dsn) as db:
        pools = [
            await PostgresDatabase.connect(postgres_dsn, schema=db.schema, max_size=3)
            for _ in range(3)
        ]
        first, second, appender = (PostgresEventStore(pool) for pool in pools)
        try:
            await first.migrate()
            appended = {s: list(await _append(first, s, 4)) for s in streams}

            async def append_meanwhile() -> None:
                for round_ in range(3):
                    for stream_id in streams[round_::3]:
                        appended[stream_id] += await _append(appender, stream_id, 1)
                        await asyncio.sleep(0)

            reports = await asyncio.gather(
                archive_cold_streams(first, storage, cold, now=later),
                archive_cold_streams(second, storage, cold, now=later),
                append_meanwhile(),
            )
            moved = 0
            reads = ArchivedReads(first, storage)
            for stream_id, ids in appended.items():
                segments = await first.archived_segments(stream_id)
                assert segments, stream_id
                assert [s.first_version for s in segments] == [
                    1,
                    *(s.last_version + 1 for s in segments[:-1]),
                ]
                moved += sum(s.events for s in segments)
                whole = await reads.read_stream(stream_id)
                assert [e.event_id for e in whole] == ids
                assert [e.version for e in whole] == list(range(1, len(ids) + 1))
                assert await first.stream_version(stream_id) == len(ids)
            assert reports[0].events + reports[1].events == moved
            assert await first.count_events() == sum(len(i) for i in appended.values()) - moved
        finally:
            for store in (first, second, appender):
                await store.close()
            for pool in pools:
                await pool.close()


async def _append(store: PostgresEventStore, stream_id: str, count: int) -> list[UUID]:
    events = new_events(count)
    await store.append(stream_id, events)
    return [e.event_id for e in events]


async def test_a_schema_of_the_previous_step_gains_the_segments_table_and_archives(
    postgres_dsn: str, tmp_path: Path
) -> None:
    """Step 6's schema holds a closed stream; inspection refuses it until ``migrate`` adds
    step 7, after which the stream is archived and still reads whole."""
    storage = DirectoryObjectStorage(tmp_path)
    async with fresh_schema(postgres_dsn) as db:
        steps = migrations(tenant_column=False)
        await db.migrate("events", steps[:-1])
        old = PostgresEventStore(db)
        await old.append("account-1", [*new_events(3), new_event("Closed")])
        before = await old.read_stream("account-1")
        with pytest.raises(EventStoreUnavailable, match="start the application once"):
            await old.check_schema()
        store = PostgresEventStore(db)
        await store.migrate()
        await store.check_schema()
        assert await db.applied_version("events") == len(steps)
        assert await store.archived_segments("account-1") == []
        assert (await archive_cold_streams(store, storage, CLOSED)).events == 3
        whole = await ArchivedReads(store, storage).read_stream("account-1")
        assert [e.event_id for e in whole] == [e.event_id for e in before]
        (segment,) = await store.archived_segments("account-1")
        assert segment.archived_at.tzinfo is not None
        assert segment.archived_at.utcoffset() == timedelta(0)
        await store.append("account-1", [NewEvent("Reopened", {})], 4)
        await old.close()
        await store.close()
