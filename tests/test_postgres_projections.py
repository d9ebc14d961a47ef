"""Projections entirely on PostgreSQL: the projector contract with the Postgres event store,
and inline projections inside the append's transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from forze import (
    EventStoreUnavailable,
    NewEvent,
    NotFoundError,
    RecordedEvent,
    SerializationError,
    WiringError,
)
from forze.contracts import EventStore
from forze_cli._latency import YieldingEventStore
from forze_postgres import (
    PostgresDatabase,
    PostgresEventStore,
    PostgresProjectionBackend,
    add_postgres_inline_projection,
)
from forze_projections import ProjectionBackend, ProjectionFailed, Projector
from forze_projections.testing import (
    ProjectorContract,
    Scored,
    append,
    append_scores,
    documents,
    fold,
    score_fold,
    scored,
    scores,
    tallies,
)
from tests.postgres_support import fresh_schema, fresh_store
from tests.test_inline_projection import TALLIES, TALLY


class TestPostgresProjector(ProjectorContract):
    @pytest.fixture(autouse=True)
    def _dsn(self, postgres_dsn: str) -> None:
        self.dsn = postgres_dsn

    @asynccontextmanager
    async def open_backend(self) -> AsyncIterator[tuple[EventStore, ProjectionBackend]]:
        async with fresh_schema(self.dsn) as db:
            store = PostgresEventStore(db, poll_interval=0.02)
            await store.migrate()
            try:
                yield store, PostgresProjectionBackend(db)
            finally:
                await store.close()


@asynccontextmanager
async def inline(dsn: str) -> AsyncIterator[tuple[PostgresEventStore, PostgresProjectionBackend]]:
    async with fresh_store(dsn) as (db, store):
        yield store, PostgresProjectionBackend(db)


async def tally(backend: PostgresProjectionBackend, stream_id: str) -> int | None:
    found = await backend.serving()(TALLIES).get(stream_id)
    return None if found is None else found.count


async def test_each_append_updates_the_inline_read_model_before_it_returns(
    postgres_dsn: str,
) -> None:
    async with inline(postgres_dsn) as (store, backend):
        await store.append("c-1", [NewEvent("Counted", {})])
        await add_postgres_inline_projection(store, backend, TALLY)
        assert await tally(backend, "c-1") == 1
        await store.append("c-1", [NewEvent("Counted", {}), NewEvent("Other", {})])
        assert await tally(backend, "c-1") == 2


async def test_a_batch_append_updates_the_inline_read_model_atomically(
    postgres_dsn: str,
) -> None:
    async with inline(postgres_dsn) as (store, backend):
        await add_postgres_inline_projection(store, backend, TALLY)
        await store.append_many(
            [("c-1", [NewEvent("Counted", {})], 0), ("c-2", [NewEvent("Counted", {})] * 1, 0)]
        )
        assert [await tally(backend, "c-1"), await tally(backend, "c-2")] == [1, 1]
        with pytest.raises(ProjectionFailed):
            await store.append_many(
                [
                    ("c-1", [NewEvent("Counted", {})], 1),
                    ("c-2", [NewEvent("Counted", {"explode": 1})], 1),
                ]
            )
        assert [await tally(backend, "c-1"), await tally(backend, "c-2")] == [1, 1]
        assert await store.stream_version("c-1") == 1


async def test_a_failing_inline_handler_rolls_the_append_back(postgres_dsn: str) -> None:
    async with inline(postgres_dsn) as (store, backend):
        await add_postgres_inline_projection(store, backend, TALLY)
        await store.append("c-1", [NewEvent("Counted", {})])
        head = await store.head_position()
        with pytest.raises(ProjectionFailed, match="'Counted'"):
            await store.append("c-1", [NewEvent("Counted", {"explode": 1})])
        assert await store.head_position() == head
        assert await store.stream_version("c-1") == 1
        assert await tally(backend, "c-1") == 1


async def test_an_inline_typed_projection_sees_old_events_upcast(postgres_dsn: str) -> None:
    async with inline(postgres_dsn) as (store, backend):
        await append_scores(store, ("score-1", "5"), ("score-2", 2))
        seen: list[tuple[Scored, RecordedEvent]] = []
        await add_postgres_inline_projection(store, backend, scores(seen=seen))
        feed = await append_scores(store, ("score-1", "-3"), ("score-2", 4))
        assert [event for event, _ in seen] == [Scored(points=p) for p in (5, 2, -3, 4)]
        assert await documents(backend.serving()) == score_fold(feed)


async def test_an_inline_upcaster_failure_rolls_the_append_back_naming_where(
    postgres_dsn: str,
) -> None:
    async with inline(postgres_dsn) as (store, backend):
        await add_postgres_inline_projection(store, backend, scores())
        feed = await append_scores(store, ("score-1", "5"))
        with pytest.raises(ProjectionFailed) as caught:
            await store.append("score-1", [scored(1), scored("five")])
        cause = caught.value.cause
        assert isinstance(cause, SerializationError)
        assert f"position {caught.value.event.position} (stream 'score-1', version 3)" in str(cause)
        assert await store.read_all() == feed
        assert await documents(backend.serving()) == score_fold(feed)


async def test_concurrent_inline_appends_keep_the_read_model_exact(postgres_dsn: str) -> None:
    async with inline(postgres_dsn) as (store, backend):
        await add_postgres_inline_projection(store, backend, TALLY)
        await asyncio.gather(
            *(store.append(f"c-{n % 3}", [NewEvent("Counted", {})]) for n in range(30))
        )
        assert [await tally(backend, f"c-{n}") for n in range(3)] == [10, 10, 10]


async def test_inline_store_and_backend_must_share_one_database(postgres_dsn: str) -> None:
    async with inline(postgres_dsn) as (store, _), fresh_schema(postgres_dsn) as other:
        with pytest.raises(WiringError, match="one PostgresDatabase"):
            await add_postgres_inline_projection(store, PostgresProjectionBackend(other), TALLY)


async def test_racing_projectors_of_one_checkpoint_apply_each_event_once(
    postgres_dsn: str,
) -> None:
    """Two processes running one projection: their batches must not overlap."""
    async with fresh_schema(postgres_dsn) as db, fresh_schema(postgres_dsn) as other:
        store = PostgresEventStore(db)
        await store.migrate()
        for n in range(40):
            await store.append(f"c-{n % 4}", [NewEvent("Counted", {}), NewEvent("Counted", {})])
        # A second pool on the same schema: another process's projector.
        second_db = PostgresDatabase(other.pool, schema=db.schema)
        first = Projector(
            YieldingEventStore(store), PostgresProjectionBackend(db), [TALLY], batch_size=3
        )
        second = Projector(
            YieldingEventStore(PostgresEventStore(second_db)),
            PostgresProjectionBackend(second_db),
            [TALLY],
            batch_size=5,
        )
        await asyncio.gather(first.catch_up(), second.catch_up())
        counts = [await tally(PostgresProjectionBackend(db), f"c-{n}") for n in range(4)]
        assert counts == [20, 20, 20, 20]
        await store.close()


async def test_a_live_projector_resumes_after_the_server_drops_its_connections(
    postgres_dsn: str,
) -> None:
    async with fresh_store(postgres_dsn) as (db, writer):
        name = f"forze-projector-{db.schema}"
        victim = await PostgresDatabase.connect(
            f"{postgres_dsn}?application_name={name}", schema=db.schema, max_size=4
        )
        store = PostgresEventStore(victim, poll_interval=0.02)
        backend = PostgresProjectionBackend(victim)
        items = [(f"tally-{n % 3}", "Added", n) for n in range(1, 31)]
        try:
            async with Projector(store, backend, [tallies()], batch_size=4):
                async with db.connection() as admin:
                    for n in range(0, len(items), 3):
                        feed = await append(writer, *items[n : n + 3])
                        await admin.fetchval(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                            " WHERE application_name = $1",
                            name,
                        )
                        await asyncio.sleep(0.02)
                for _ in range(500):
                    try:
                        if await documents(backend.serving()) == fold(feed):
                            break
                    except (EventStoreUnavailable, NotFoundError):
                        pass  # a connection the kill reached as it was read; not live yet
                    await asyncio.sleep(0.02)
                assert await documents(backend.serving()) == fold(feed)
            assert await backend.failures("tallies") == []
        finally:
            await store.close()
            await victim.close()
