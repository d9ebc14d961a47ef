"""Gap-safety torture on MongoDB: writers on their own clients (as separate processes would
be) append random batches, some of which fail half-written (a reused event id after other
events of the batch were inserted, a stale expected version), while tailing readers on
another client must each see every stored event exactly once, in one order, with each
stream's events in version order, and never an event of a failed append."""

from __future__ import annotations

import asyncio
import random
import time
from uuid import UUID

from forze import ConcurrencyError, DuplicateEventIdError
from forze.contracts import RecordedEvent, StreamAppend
from forze_eventstore.testing.helpers import new_event, new_events
from forze_mongo import MongoDatabase, MongoEventStore
from tests.mongo_support import MONGO_URL, fresh_database

WRITERS = 8
APPENDS_PER_WRITER = 25


async def _poll(store: MongoEventStore, done: asyncio.Event, seen: list[RecordedEvent]) -> None:
    """A reader that only ever moves its cursor forward, as a projector does."""
    after = 0
    while True:
        finished = done.is_set()
        page = await store.read_all(after=after, limit=7)
        if page:
            seen.extend(page)
            after = page[-1].position
        elif finished:
            return
        else:
            await asyncio.sleep(0.001)


async def _tail(store: MongoEventStore, seen: list[RecordedEvent]) -> None:
    async for event in store.subscribe():
        seen.append(event)


async def test_tailing_readers_see_every_stored_event_once_in_one_order() -> None:
    async with fresh_database() as db:
        readers_store = MongoEventStore(db, poll_interval=0.05)
        await readers_store.migrate()
        failed: set[UUID] = set()
        taken = new_event("Taken")
        await readers_store.append("ids-1", [taken])
        done = asyncio.Event()
        polled: list[list[RecordedEvent]] = [[] for _ in range(2)]
        tailed: list[list[RecordedEvent]] = [[] for _ in range(3)]
        readers = [asyncio.ensure_future(_poll(readers_store, done, seen)) for seen in polled]
        tails = [asyncio.ensure_future(_tail(readers_store, seen)) for seen in tailed]

        async def write(writer: int) -> None:
            rng = random.Random(writer)
            own = MongoDatabase.connect(MONGO_URL, database=db.name)
            store = MongoEventStore(own)
            try:
                for _ in range(APPENDS_PER_WRITER):
                    stream = f"w{writer}-{rng.randint(0, 2)}"
                    batch = new_events(rng.randint(1, 5))
                    roll = rng.random()
                    try:
                        if roll < 0.2:  # half-written: the last part reuses a stored id
                            await store.append_many(
                                [
                                    StreamAppend(stream, batch),
                                    StreamAppend(f"w{writer}-odd", [taken]),
                                ]
                            )
                        elif roll < 0.45:  # a stale expectation on a stream all share
                            version = await store.stream_version("shared-1")
                            await asyncio.sleep(rng.random() * 0.003)
                            await store.append("shared-1", batch, version)
                        else:
                            await store.append(stream, batch)
                    except (DuplicateEventIdError, ConcurrencyError):
                        failed.update(e.event_id for e in batch)
                    await asyncio.sleep(rng.random() * 0.002)
            finally:
                await store.close()
                await own.close()

        await asyncio.gather(*(write(w) for w in range(WRITERS)))
        done.set()
        await asyncio.gather(*readers)
        stored = list(await readers_store.read_all())
        expected = [e.event_id for e in stored]
        deadline = time.monotonic() + 30  # on a loaded machine; usually a few ms
        while time.monotonic() < deadline:
            if all(len(seen) >= len(expected) for seen in tailed):
                break
            await asyncio.sleep(0.02)
        for task in tails:
            task.cancel()
        # a cancelled subscription must end, even when the driver lost the cancellation
        _, running = await asyncio.wait(tails, timeout=30)
        assert not running, "a cancelled subscription kept running"
        await asyncio.gather(*tails, return_exceptions=True)
        await readers_store.close()

    assert failed, "the scenario must make some appends fail"
    assert not failed & set(expected)
    positions = [e.position for e in stored]
    assert positions == sorted(set(positions))
    for stream_id in {e.stream_id for e in stored}:
        versions = [e.version for e in stored if e.stream_id == stream_id]
        assert versions == list(range(1, len(versions) + 1)), f"{stream_id} out of order"
    for seen in [*polled, *tailed]:
        assert [e.event_id for e in seen] == expected
