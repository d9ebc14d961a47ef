"""PostgresEventStore passes the event-store contract against a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from forze import ConcurrencyError, InvalidInputError
from forze.contracts import EventStore, NewEvent
from forze_eventstore import EventLimits
from forze_eventstore.adapter_kit import DEFAULT_LIMITS
from forze_eventstore.testing import EventStoreContract
from forze_postgres import PostgresEventStore
from forze_postgres._event_ddl import migrations
from tests.postgres_support import fresh_schema


class TestPostgresEventStore(EventStoreContract):
    @pytest.fixture(autouse=True)
    def _dsn(self, postgres_dsn: str) -> None:
        self.dsn = postgres_dsn

    @asynccontextmanager
    async def open_store(self) -> AsyncIterator[EventStore]:
        async with self.open_limited_store(DEFAULT_LIMITS) as store:
            yield store

    @asynccontextmanager
    async def open_limited_store(self, limits: EventLimits) -> AsyncIterator[EventStore]:
        async with fresh_schema(self.dsn) as db:
            store = PostgresEventStore(db, poll_interval=0.05, limits=limits)
            await store.migrate()
            try:
                yield store
            finally:
                await store.close()


async def test_a_page_read_after_the_head_holds_every_event_up_to_it_while_transactions_come_and_go(
    postgres_dsn: str,
) -> None:
    """Transactions of the schema's database (projector units) take ids while a reader reads;
    an id taken after the reader's snapshot must not drag its watermark below the feed."""
    async with fresh_schema(postgres_dsn) as db:
        store = PostgresEventStore(db)
        await store.migrate()
        await db.migrate("scratch", ["CREATE TABLE {schema}.scratch (x INTEGER)"])
        for n in range(5):
            await store.append(f"s-{n}", [NewEvent("Stored", {"n": n})])
        feed = await store.read_all()
        stopping = asyncio.Event()

        async def units() -> None:
            while not stopping.is_set():
                async with db.transaction() as connection:
                    await connection.execute(f"INSERT INTO {db.table('scratch')} VALUES (1)")
                    await asyncio.sleep(0)

        busy = [asyncio.ensure_future(units()) for _ in range(3)]
        try:
            for _ in range(300):
                head = await store.head_position()
                page = await store.read_all(after=feed[1].position)
                assert head == feed[-1].position
                assert [e.position for e in page] == [e.position for e in feed[2:]]
        finally:
            stopping.set()
            await asyncio.gather(*busy)
        await store.close()


async def test_a_store_opened_from_a_dsn_migrates_its_schema_and_closes_its_own_pool(
    postgres_dsn: str,
) -> None:
    schema = f"open_{uuid.uuid4().hex[:8]}"
    store = await PostgresEventStore.open(postgres_dsn, schema=schema, tenant="acme")
    try:
        await store.append("order-1", [NewEvent("Placed", {})], 0)
        assert store.db.tenant == "acme"
        assert [e.stream_id for e in await store.read_all()] == ["order-1"]
    finally:
        async with store.db.connection() as connection:
            await connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await store.close()
    assert store.db.pool.is_closing()


async def test_a_store_opened_on_your_pool_leaves_the_pool_open(postgres_dsn: str) -> None:
    schema = f"open_{uuid.uuid4().hex[:8]}"
    pool = await asyncpg.create_pool(postgres_dsn, min_size=1, max_size=3)
    try:
        store = await PostgresEventStore.open(pool, schema=schema)
        await store.append("order-1", [NewEvent("Placed", {})], 0)
        await store.close()
        assert not pool.is_closing()
        async with pool.acquire() as connection:
            assert await connection.fetchval(f'SELECT count(*) FROM "{schema}".forze_events') == 1
            await connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await pool.close()


async def test_a_schema_of_the_first_release_upgrades_and_its_streams_go_on_at_their_versions(
    postgres_dsn: str,
) -> None:
    """The first release's tables (step 1: events and a streams table); later steps drop the
    streams table, and a stream's version becomes its last event's."""
    async with fresh_schema(postgres_dsn) as db:
        await db.migrate("events", migrations(tenant_column=False)[:1])
        async with db.connection() as connection:
            await connection.execute(
                f"INSERT INTO {db.table('forze_events')} (position, stream_id, version, event_id,"
                " event_type, category, data, metadata) VALUES"
                " (1, 'order-1', 1, gen_random_uuid(), 'Placed', 'order', '{}', '{}'),"
                " (2, 'order-1', 2, gen_random_uuid(), 'Paid', 'order', '{}', '{}');"
                f" INSERT INTO {db.table('forze_streams')} VALUES ('order-1', 2)"
            )
        store = PostgresEventStore(db)
        await store.migrate()
        assert await store.stream_version("order-1") == 2
        with pytest.raises(ConcurrencyError):
            await store.append("order-1", [NewEvent("Shipped", {})], 1)
        result = await store.append("order-1", [NewEvent("Shipped", {})], 2)
        assert result.version == 3
        assert [e.version for e in await store.read_all()] == [1, 2, 3]
        async with db.connection() as connection:
            assert (
                await connection.fetchval("SELECT to_regclass($1)", db.table("forze_streams"))
                is None
            )
        await store.close()


async def test_data_that_is_not_json_is_refused_naming_the_event_and_nothing_is_stored(
    postgres_dsn: str,
) -> None:
    async with fresh_schema(postgres_dsn) as db:
        store = PostgresEventStore(db)
        await store.migrate()
        good = NewEvent("Placed", {"n": 1})
        with pytest.raises(InvalidInputError, match="metadata of 'Paid'"):
            await store.append("order-1", [good, NewEvent("Paid", {}, {"at": object()})])
        with pytest.raises(InvalidInputError, match="data of 'Placed'"):
            await store.append("order-1", [NewEvent("Placed", {1: "not a string key"})])  # type: ignore[dict-item]
        assert await store.read_all() == []
        await store.close()
