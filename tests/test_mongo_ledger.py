"""The ledger's corner cases on MongoDB: a write that lands after its append was given up
stays hidden, and an append that outlives its lease fails whole."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from forze import EventStoreUnavailable
from forze_eventstore.adapter_kit import DEFAULT_LIMITS
from forze_eventstore.testing.helpers import new_events
from forze_mongo import MongoEventStore
from forze_mongo._event_docs import encode_events, event_documents
from forze_mongo._ledger import Ledger
from tests.mongo_support import fresh_database


async def test_a_write_landing_after_its_append_was_given_up_stays_hidden() -> None:
    async with fresh_database() as db:
        store = MongoEventStore(db)
        await store.migrate()
        await store.append("cart-1", new_events(1))
        slow = Ledger(db.collection("event_head"), db.collection("events"), lease=0.05)
        token, first = await slow.reserve(2)
        await asyncio.sleep(0.1)
        assert await store.head_position() == 1  # the reader gave the reservation up
        late = event_documents(
            "cart-1",
            encode_events("cart-1", new_events(2, "Late"), DEFAULT_LIMITS),
            first_version=2,
            first_position=first,
            commit=token,
            now=datetime.now(UTC),
        )
        await db.collection("events").insert_many(list(late))
        assert not await slow.finalize(token)

        assert [e.event_type for e in await store.read_all()] == ["Happened"]
        assert [e.version for e in await store.read_stream("cart-1")] == [1]
        assert await store.count_events() == 1
        assert await store.stream_version("cart-1") == 1
        stored = await store.append("cart-1", new_events(1, "Next"), 1)
        assert stored.version == 2
        assert [e.event_type for e in await store.read_stream("cart-1")] == ["Happened", "Next"]
        await store.close()


async def test_an_append_that_outlives_its_lease_fails_as_transient_and_stores_nothing() -> None:
    async with fresh_database() as db:
        store = MongoEventStore(db, append_lease=0.0001)
        await store.migrate()
        with pytest.raises(EventStoreUnavailable) as raised:
            await store.append("cart-1", new_events(3))
        assert raised.value.transient
        patient = MongoEventStore(db)
        assert list(await patient.read_all()) == []
        assert await patient.stream_version("cart-1") == 0
        assert (await patient.append("cart-1", new_events(1))).version == 1
        await store.close()
