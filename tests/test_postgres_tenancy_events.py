"""PostgresEventStore in the tenant-column layout: the contract holds per tenant, and tenants
sharing one schema never see each other's streams, feed or event ids."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from forze import InvalidInputError, WiringError
from forze.contracts import EventStore, ExpectedVersion, NewEvent
from forze_eventstore import EventLimits
from forze_eventstore.adapter_kit import DEFAULT_LIMITS
from forze_eventstore.testing import EventStoreContract
from forze_postgres import (
    PostgresDatabase,
    PostgresEventStore,
    PostgresProjectionBackend,
    add_postgres_inline_projection,
)
from tests.postgres_support import fresh_schema
from tests.test_inline_projection import TALLY
from tests.test_postgres_projections import tally

NOISY_STREAMS = ("s-1", "s-2", "a-1", "b-1", "order-1", "order-2", "hot-1")


async def _other_tenant_writes(db: PostgresDatabase) -> None:
    """Tenant ``t2`` fills the schema's shared tables with the contract's own stream ids."""
    noise = PostgresEventStore(db.for_tenant("t2"))
    for stream_id in NOISY_STREAMS:
        await noise.append(stream_id, [NewEvent("Noise", {"n": n}) for n in range(3)])


class TestPostgresEventStoreWithATenantColumn(EventStoreContract):
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
            tenant_db = db.for_tenant("t1")
            store = PostgresEventStore(tenant_db, poll_interval=0.05, limits=limits)
            await store.migrate()
            await _other_tenant_writes(db)
            try:
                yield store
            finally:
                await store.close()


@asynccontextmanager
async def two_tenants(dsn: str) -> AsyncIterator[tuple[PostgresEventStore, PostgresEventStore]]:
    async with fresh_schema(dsn) as db:
        first = PostgresEventStore(db.for_tenant("t1"), poll_interval=0.05)
        second = PostgresEventStore(db.for_tenant("t2"), poll_interval=0.05)
        await first.migrate()
        try:
            yield first, second
        finally:
            await first.close()
            await second.close()


async def test_the_same_stream_in_two_tenants_is_two_streams(postgres_dsn: str) -> None:
    async with two_tenants(postgres_dsn) as (first, second):
        await first.append(
            "account-1", [NewEvent("Opened", {"by": "t1"})], ExpectedVersion.NO_STREAM
        )
        await second.append(
            "account-1", [NewEvent("Opened", {"by": "t2"})], ExpectedVersion.NO_STREAM
        )
        await second.append("account-1", [NewEvent("Closed", {})], 1)
        assert await first.stream_version("account-1") == 1
        assert await second.stream_version("account-1") == 2
        assert [e.data for e in await first.read_stream("account-1")] == [{"by": "t1"}]


async def test_a_tenant_reads_and_counts_only_its_own_feed(postgres_dsn: str) -> None:
    async with two_tenants(postgres_dsn) as (first, second):
        for n in range(5):
            await first.append(f"a-{n}", [NewEvent("Mine", {"n": n})])
            await second.append(f"a-{n}", [NewEvent("Theirs", {"n": n})])
        feed = await first.read_all()
        assert [e.event_type for e in feed] == ["Mine"] * 5
        assert await first.count_events() == 5
        assert await first.head_position() == feed[-1].position
        assert await first.read_all(categories=["a"], event_types=["Theirs"]) == []
        assert len(await second.read_all(categories=["a"])) == 5


async def test_a_tenant_subscription_never_delivers_another_tenants_event(
    postgres_dsn: str,
) -> None:
    async with two_tenants(postgres_dsn) as (first, second):
        feed = first.subscribe()
        await second.append("s-1", [NewEvent("Theirs", {})])
        await first.append("s-1", [NewEvent("Mine", {})])
        event = await asyncio.wait_for(anext(feed), 5)
        assert event.event_type == "Mine"
        await feed.aclose()


async def test_an_event_id_is_unique_per_tenant(postgres_dsn: str) -> None:
    async with two_tenants(postgres_dsn) as (first, second):
        event = NewEvent("Imported", {"row": 1}, event_id=uuid.uuid5(uuid.NAMESPACE_URL, "row-1"))
        one = await first.append("import-1", [event])
        other = await second.append("import-1", [event])
        assert one.position != other.position
        again = await first.append("import-1", [event])
        assert again == one, "a re-append in the same tenant is idempotent"


async def test_a_schema_keeps_the_layout_it_was_created_with(postgres_dsn: str) -> None:
    async with fresh_schema(postgres_dsn) as db:
        await PostgresEventStore(db.for_tenant("t1")).migrate()
        with pytest.raises(InvalidInputError, match="tenant column"):
            await PostgresEventStore(db).migrate()
    async with fresh_schema(postgres_dsn) as db:
        await PostgresEventStore(db).migrate()
        with pytest.raises(InvalidInputError, match="tenant column"):
            await PostgresEventStore(db.for_tenant("t1")).migrate()


@pytest.mark.parametrize("tenant", ["", "a\x00b"])
def test_a_tenant_must_be_a_non_empty_string_without_nul(tenant: str) -> None:
    with pytest.raises(InvalidInputError, match="tenant"):
        PostgresDatabase(None, tenant=tenant)  # type: ignore[arg-type]


async def test_an_inline_projection_runs_in_a_tenants_append_transaction(
    postgres_dsn: str,
) -> None:
    async with fresh_schema(postgres_dsn) as db:
        store = PostgresEventStore(db.for_tenant("t1"))
        await store.migrate()
        backend = PostgresProjectionBackend(db.for_tenant("t1"))
        await add_postgres_inline_projection(store, backend, TALLY)
        await store.append("c-1", [NewEvent("Counted", {})])
        other = PostgresProjectionBackend(db.for_tenant("t2"))
        assert await tally(backend, "c-1") == 1
        with pytest.raises(WiringError, match="one PostgresDatabase"):
            await add_postgres_inline_projection(store, other, TALLY)


async def test_one_schema_never_mixes_the_two_layouts(postgres_dsn: str) -> None:
    async with fresh_schema(postgres_dsn) as db:
        await PostgresProjectionBackend(db.for_tenant("t1")).prepare()
        with pytest.raises(InvalidInputError, match="with a tenant column"):
            await PostgresEventStore(db).migrate()
