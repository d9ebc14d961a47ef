"""MongoDB as deployed: an unreachable server is a transient outage, other processes'
subscribers are woken by the change stream (and by polling when it is lost), and tenants in
one database never see each other's events."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from pymongo.errors import PyMongoError

from forze import EventStoreUnavailable, InvalidInputError
from forze_eventstore.testing.helpers import new_events
from forze_mongo import MongoDatabase, MongoEventStore
from tests.mongo_support import MONGO_URL, fresh_database


async def test_an_unreachable_server_is_a_transient_outage_within_the_timeout() -> None:
    db = MongoDatabase.connect("mongodb://127.0.0.1:9/?directConnection=true", timeout=0.5)
    store = MongoEventStore(db)
    started = time.monotonic()
    with pytest.raises(EventStoreUnavailable) as raised:
        await store.append("order-1", new_events(1))
    assert raised.value.transient
    assert time.monotonic() - started < 5
    await db.close()


async def test_a_subscriber_on_another_client_is_woken_by_the_change_stream() -> None:
    async with fresh_database() as db:
        writer = MongoEventStore(db)
        await writer.migrate()
        other = MongoDatabase.connect(MONGO_URL, database=db.name)
        reader = MongoEventStore(other, poll_interval=30.0)  # polling alone would be too late
        feed = reader.subscribe()
        first = asyncio.ensure_future(feed.__anext__())
        await asyncio.sleep(0.5)  # the reader is waiting, its change stream open
        await writer.append("order-1", new_events(1))
        event = await asyncio.wait_for(first, 10)
        assert event.stream_id == "order-1"
        await feed.aclose()
        await reader.close()
        await other.close()


async def test_a_lost_change_stream_costs_latency_never_events(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with fresh_database() as db:
        writer = MongoEventStore(db)
        await writer.migrate()
        other = MongoDatabase.connect(MONGO_URL, database=db.name)
        reader = MongoEventStore(other, poll_interval=0.2)

        async def broken(*_: object, **__: object) -> None:
            raise PyMongoError("the change stream is gone (resume token invalidated)")

        monkeypatch.setattr(type(other.collection("event_head")), "watch", broken)
        feed = reader.subscribe()
        await writer.append("order-1", new_events(3))
        seen = [await asyncio.wait_for(feed.__anext__(), 10) for _ in range(3)]
        assert [e.version for e in seen] == [1, 2, 3]
        await feed.aclose()
        await reader.close()
        await other.close()


async def test_tenants_with_their_own_prefix_in_one_database_see_only_their_own_events() -> None:
    async with fresh_database() as db:
        acme = MongoEventStore(MongoDatabase(db.client, db.name, prefix="acme_"))
        globex = MongoEventStore(MongoDatabase(db.client, db.name, prefix="globex_"))
        for store in (acme, globex):
            await store.migrate()
        await acme.append("order-1", new_events(2))
        await globex.append("order-1", new_events(1))
        assert len(await acme.read_all()) == 2
        assert len(await globex.read_all()) == 1
        assert await globex.stream_version("order-1") == 1


def test_names_that_are_not_identifiers_are_refused_before_any_connection() -> None:
    with pytest.raises(InvalidInputError, match="database name"):
        MongoDatabase.connect(MONGO_URL, database="a.b")
    with pytest.raises(InvalidInputError, match="collection prefix"):
        MongoDatabase.connect(MONGO_URL, database="ok", prefix="x$")


async def test_a_store_opened_from_a_url_creates_its_indexes_and_closes_its_own_client() -> None:
    name = f"forze_test_{uuid.uuid4().hex[:12]}"
    store = await MongoEventStore.open(MONGO_URL, database=name)
    try:
        await store.append("order-1", new_events(1))
        indexes = await store.db.collection("events").index_information()
        assert len(indexes) >= 3  # _id, (stream_id, version), event_id (and commit)
    finally:
        await store.db.client.drop_database(name)
        await store.close()
    with pytest.raises(EventStoreUnavailable):
        await store.read_all()  # its client is closed
