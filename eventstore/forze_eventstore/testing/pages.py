"""Contract: read pages are bounded in bytes as well as in events, so a reader of large events
holds a bounded amount of memory, and a single event larger than the budget still reads."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import AsyncIterator, Sequence

import pytest

from forze.contracts import CutPage, EventStore, NewEvent, RecordedEvent
from forze.domain.errors import InvalidInputError
from forze_eventstore.limits import EventLimits
from forze_eventstore.testing.limits import LimitedStoreFactory

__all__ = ["PageBudgetContract"]

EVENT_BYTES = 100_000
"""The JSON text of each large event of these tests: ``{"blob":"xx..."}``."""


def _large(count: int, event_type: str = "Large") -> list[NewEvent]:
    blob = "x" * (EVENT_BYTES - len('{"blob":""}'))
    return [NewEvent(event_type, {"blob": blob, "n": n}) for n in range(count)]


def _numbers(events: Sequence[RecordedEvent]) -> list[int]:
    return [int(e.data["n"]) for e in events]


async def _numbers_of(feed: AsyncIterator[RecordedEvent], count: int) -> list[int]:
    """The numbers of the feed's first ``count`` events, keeping no event."""
    found: list[int] = []
    async for event in feed:
        found.append(int(event.data["n"]))
        if len(found) == count:
            break
    return found


class PageBudgetContract(LimitedStoreFactory):
    """``max_bytes`` on ``read_all``/``read_stream``, and subscriptions paged by bytes."""

    async def test_a_feed_page_stops_at_its_byte_budget_yet_holds_at_least_one_event(
        self, store: EventStore
    ) -> None:
        await store.append("big-1", _large(6))
        reads = store
        page = await reads.read_all(limit=100, max_bytes=int(2.5 * EVENT_BYTES))
        assert isinstance(page, CutPage)
        assert _numbers(page) == [0, 1, 2]  # stops with the event that reaches the budget
        tiny = await reads.read_all(limit=100, max_bytes=1)
        assert _numbers(tiny) == [0]
        assert _numbers(await reads.read_all(limit=4, max_bytes=10 * EVENT_BYTES)) == [0, 1, 2, 3]
        assert len(await store.read_all(limit=100)) == 6  # no budget: every event asked for

    async def test_paging_the_feed_by_bytes_reads_every_event_once_in_order(
        self, store: EventStore
    ) -> None:
        await store.append("big-1", _large(5))
        await store.append("small-1", [NewEvent("Small", {"n": 5})])
        await store.append("big-2", _large(2, "Other"))
        reads, after = store, 0
        seen: list[RecordedEvent] = []
        while page := await reads.read_all(after=after, limit=3, max_bytes=2 * EVENT_BYTES):
            assert sum(e.event_type != "Small" for e in page) <= 2  # the budget: 2 large
            seen += page
            after = page[-1].position
        assert seen == list(await store.read_all())
        filtered = await reads.read_all(event_types=["Other"], limit=5, max_bytes=EVENT_BYTES)
        assert [e.event_type for e in filtered] == ["Other"]

    async def test_a_stream_page_stops_at_its_byte_budget_forwards_and_backwards(
        self, store: EventStore
    ) -> None:
        await store.append("big-1", _large(5))
        reads = store
        forwards = await reads.read_stream("big-1", from_version=2, limit=9, max_bytes=EVENT_BYTES)
        assert [e.version for e in forwards] == [2]
        backwards = await reads.read_stream(
            "big-1", backwards=True, limit=9, max_bytes=2 * EVENT_BYTES
        )
        assert [e.version for e in backwards] == [5, 4]
        assert len(await store.read_stream("big-1")) == 5

    @pytest.mark.parametrize("max_bytes", [0, -1, True, 1.5, "10"])
    async def test_a_budget_that_is_not_a_positive_int_is_refused(
        self, store: EventStore, max_bytes: object
    ) -> None:
        with pytest.raises(InvalidInputError, match="max_bytes"):
            await store.read_all(max_bytes=max_bytes)  # type: ignore[arg-type]

    async def test_a_subscriber_to_large_events_holds_about_one_page_budget_at_a_time(
        self,
    ) -> None:
        """30 events of 100 kB, pages of 200 kB: the subscriber's memory stays within a few
        events' worth (read in pages of 500 events, it would hold all 3 MB at once)."""
        async with self.open_limited_store(EventLimits(page_bytes=2 * EVENT_BYTES)) as store:
            for _ in range(3):
                await store.append("big-1", _large(10))
            gc.collect()
            tracemalloc.start()
            try:
                base = tracemalloc.get_traced_memory()[0]
                feed = store.subscribe()
                numbers = await asyncio.wait_for(_numbers_of(feed, 30), 20)
                await feed.aclose()
                peak = tracemalloc.get_traced_memory()[1] - base
            finally:
                tracemalloc.stop()
        assert numbers == list(range(10)) * 3
        assert peak < 12 * EVENT_BYTES, f"the subscriber held {peak} bytes at its peak"
