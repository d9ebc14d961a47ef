"""Contract: subscriptions catch up then go live, and concurrent writers never create gaps."""

from __future__ import annotations

import asyncio
import random

from forze.contracts import EventStore, RecordedEvent
from forze.domain.errors import ConcurrencyError
from forze_eventstore.testing.base import StoreFactory
from forze_eventstore.testing.helpers import collect, new_event, new_events

__all__ = ["LiveContract"]


class LiveContract(StoreFactory):
    """``subscribe`` and the gap-safe global order under concurrent writers."""

    async def test_a_subscription_replays_history_then_delivers_new_events(
        self, store: EventStore
    ) -> None:
        await store.append("s-1", new_events(3))
        feed = store.subscribe()
        history = await collect(feed, 3)
        assert history == list(await store.read_all())
        await store.append("s-2", new_events(2))
        live = await collect(feed, 2, seconds=3)
        assert live == list(await store.read_all())[3:]
        await feed.aclose()

    async def test_a_subscription_starts_after_the_given_position(self, store: EventStore) -> None:
        await store.append("s-1", new_events(5))
        stored = list(await store.read_all())
        feed = store.subscribe(after=stored[2].position)
        assert await collect(feed, 2) == stored[3:]
        await feed.aclose()

    async def test_a_subscription_filters_by_type_and_category(self, store: EventStore) -> None:
        await store.append("order-1", [new_event("Placed"), new_event("Paid")])
        feed = store.subscribe(event_types=["Paid"], categories=["order"])
        waiting = asyncio.ensure_future(collect(feed, 2, seconds=3))
        await store.append("customer-1", [new_event("Paid")])
        await store.append("order-2", [new_event("Placed"), new_event("Paid")])
        assert [(e.stream_id, e.event_type) for e in await waiting] == [
            ("order-1", "Paid"),
            ("order-2", "Paid"),
        ]
        await feed.aclose()

    async def test_a_live_subscriber_is_woken_promptly(self, store: EventStore) -> None:
        feed = store.subscribe()
        waiting = asyncio.ensure_future(collect(feed, 1, seconds=2))
        await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await store.append("s-1", new_events(1))
        await waiting
        assert loop.time() - started < 1.0
        await feed.aclose()

    async def test_tailing_readers_see_every_event_of_concurrent_writers_once_in_order(
        self, store: EventStore
    ) -> None:
        writers, appends_per_writer = 6, 15
        rng = random.Random(7)
        sizes = [[rng.randint(1, 4) for _ in range(appends_per_writer)] for _ in range(writers)]
        total = sum(map(sum, sizes))
        feeds = [store.subscribe() for _ in range(3)]
        readers = [asyncio.ensure_future(collect(feed, total, seconds=30)) for feed in feeds]

        async def write(writer: int) -> None:
            for size in sizes[writer]:
                stream = f"w{writer}-{rng.randint(0, 3)}"
                await store.append(stream, new_events(size))
                await asyncio.sleep(0)

        await asyncio.gather(*(write(w) for w in range(writers)))
        seen = await asyncio.gather(*readers)
        expected = [e.event_id for e in await store.read_all()]
        assert len(expected) == total
        for events in seen:
            assert [e.event_id for e in events] == expected
            positions = [e.position for e in events]
            assert positions == sorted(set(positions))
        for feed in feeds:
            await feed.aclose()

    async def test_optimistic_writers_racing_on_one_stream_keep_versions_gap_free(
        self, store: EventStore
    ) -> None:
        wins: list[int] = []

        async def writer() -> None:
            for _ in range(10):
                while True:
                    version = await store.stream_version("hot-1")
                    await asyncio.sleep(0)
                    try:
                        await store.append("hot-1", new_events(1), version)
                    except ConcurrencyError:
                        continue
                    wins.append(version + 1)
                    break

        await asyncio.gather(*(writer() for _ in range(5)))
        events: list[RecordedEvent] = list(await store.read_stream("hot-1"))
        assert [e.version for e in events] == list(range(1, 51))
        assert sorted(wins) == list(range(1, 51))
