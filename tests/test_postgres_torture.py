"""Gap-safety torture: concurrent writers with random batches, delays and rollbacks, and
tailing readers that must each see every committed event exactly once, in one order, with
each stream's events in version order."""

from __future__ import annotations

import asyncio
import random
import time
from uuid import UUID

from forze import ConcurrencyError
from forze.contracts import RecordedEvent
from forze_eventstore.testing.helpers import new_events
from forze_postgres import PostgresEventStore
from tests.postgres_support import fresh_schema

WRITERS = 8
APPENDS_PER_WRITER = 25


class RolledBack(Exception):
    """Raised on purpose to roll a writer's transaction back."""


async def _poll(store: PostgresEventStore, done: asyncio.Event, seen: list[RecordedEvent]) -> None:
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


async def _tail(store: PostgresEventStore, seen: list[RecordedEvent]) -> None:
    async for event in store.subscribe():
        seen.append(event)


async def test_tailing_readers_see_every_committed_event_once_in_one_order(
    postgres_dsn: str,
) -> None:
    async with fresh_schema(postgres_dsn, max_size=WRITERS + 8) as db:
        store = PostgresEventStore(db, poll_interval=0.05)
        await store.migrate()
        rolled_back: set[UUID] = set()
        done = asyncio.Event()
        polled: list[list[RecordedEvent]] = [[] for _ in range(2)]
        tailed: list[list[RecordedEvent]] = [[] for _ in range(3)]
        readers = [asyncio.ensure_future(_poll(store, done, seen)) for seen in polled]
        tails = [asyncio.ensure_future(_tail(store, seen)) for seen in tailed]

        async def write(writer: int) -> None:
            rng = random.Random(writer)
            for n in range(APPENDS_PER_WRITER):
                stream = f"w{writer}-{rng.randint(0, 2)}" if rng.random() < 0.8 else "shared-1"
                batch = new_events(rng.randint(1, 5))
                if rng.random() < 0.5:
                    await store.append(stream, batch)
                    continue
                try:
                    async with db.transaction() as connection:
                        # The transaction gets its id (as any earlier write would) well before
                        # it appends: readers must still treat it as in flight.
                        await connection.execute("SELECT pg_current_xact_id()")
                        await asyncio.sleep(rng.random() * 0.005)
                        await store.append(stream, batch)
                        await store.append(f"w{writer}-side", new_events(1))
                        await asyncio.sleep(rng.random() * 0.01)  # commit late, out of order
                        if rng.random() < 0.3:
                            raise RolledBack(f"writer {writer}, append {n}")
                except (RolledBack, ConcurrencyError):
                    # ConcurrencyError: a transaction with a later id appended to the stream
                    # first (this one's id is fixed, so its events would land below those)
                    rolled_back.update(e.event_id for e in batch)
                    continue

        await asyncio.gather(*(write(w) for w in range(WRITERS)))
        done.set()
        await asyncio.gather(*readers)
        committed = list(await store.read_all())
        expected = [e.event_id for e in committed]
        deadline = time.monotonic() + 30  # on a loaded machine; usually a few ms
        while time.monotonic() < deadline:
            if all(len(seen) >= len(expected) for seen in tailed):
                break
            await asyncio.sleep(0.02)
        for task in tails:
            task.cancel()
        await asyncio.gather(*tails, return_exceptions=True)
        await store.close()

    assert rolled_back, "the scenario must roll some transactions back"
    assert not rolled_back & set(expected)
    positions = [e.position for e in committed]
    assert positions == sorted(set(positions))
    for stream_id in {e.stream_id for e in committed}:
        versions = [e.version for e in committed if e.stream_id == stream_id]
        assert versions == list(range(1, len(versions) + 1)), f"{stream_id} out of order"
    for seen in [*polled, *tailed]:
        assert [e.event_id for e in seen] == expected
