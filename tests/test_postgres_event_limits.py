"""PostgreSQL and the event limits: names are kept within its indexes, an existing schema gains
the byte-bounded page reads by migration, and each tenant's pages hold only its own events."""

from __future__ import annotations

import pytest

from forze import InvalidInputError
from forze.contracts import NewEvent
from forze_eventstore import EventLimits
from forze_eventstore.adapter_kit import CutPage
from forze_postgres import PostgresEventStore
from forze_postgres._event_ddl import migrations
from tests.postgres_support import fresh_schema

BLOB = "x" * 50_000


async def test_limits_allowing_names_longer_than_its_indexes_hold_are_refused_up_front(
    postgres_dsn: str,
) -> None:
    async with fresh_schema(postgres_dsn) as db:
        with pytest.raises(InvalidInputError, match="at most 600 characters"):
            PostgresEventStore(db, limits=EventLimits(max_stream_id_length=10_000))
        with pytest.raises(InvalidInputError, match="at most 600 characters"):
            PostgresEventStore(db, limits=EventLimits(max_event_type_length=601))
        widest = EventLimits(max_stream_id_length=600, max_event_type_length=600)
        store = PostgresEventStore(db.for_tenant("t" * 40), limits=widest)
        await store.migrate()
        stream, event_type = "\U0001f600" * 600, "\U0001f600" * 600
        await store.append(stream, [NewEvent(event_type, {})])
        assert [e.event_type for e in await store.read_stream(stream)] == [event_type]
        await store.close()


def _large(count: int) -> list[NewEvent]:
    return [NewEvent("Large", {"blob": BLOB, "n": n}) for n in range(count)]


async def test_a_schema_of_the_previous_step_upgrades_and_its_events_read_in_byte_bounded_pages(
    postgres_dsn: str,
) -> None:
    """Step 4's schema holds events; ``migrate`` adds step 5 and paged reads see them all."""
    async with fresh_schema(postgres_dsn) as db:
        await db.migrate("events", migrations(tenant_column=False)[:4])
        old = PostgresEventStore(db)
        await old.append("big-1", _large(4))
        store = PostgresEventStore(db, limits=EventLimits(page_bytes=100_000))
        await store.migrate()
        page = await store.read_all(limit=10, max_bytes=100_000)
        assert isinstance(page, CutPage)
        assert [e.data["n"] for e in page] == [0, 1]
        stream = await store.read_stream("big-1", from_version=3, limit=10, max_bytes=1)
        assert [e.version for e in stream] == [3]
        feed = store.subscribe()
        assert [(await anext(feed)).data["n"] for _ in range(4)] == [0, 1, 2, 3]
        await feed.aclose()
        await store.close()


async def test_a_tenant_reads_only_its_own_events_in_byte_bounded_pages(
    postgres_dsn: str,
) -> None:
    async with fresh_schema(postgres_dsn) as db:
        first = PostgresEventStore(db.for_tenant("t1"))
        second = PostgresEventStore(db.for_tenant("t2"))
        await first.migrate()
        await second.append("big-1", _large(3))
        await first.append("big-1", _large(2))
        page = await first.read_all(limit=10, max_bytes=10_000_000)
        assert [e.data["n"] for e in page] == [0, 1]
        assert not isinstance(page, CutPage)
        stream = await first.read_stream("big-1", backwards=True, max_bytes=1)
        assert [e.version for e in stream] == [2]
        await first.close()
        await second.close()
