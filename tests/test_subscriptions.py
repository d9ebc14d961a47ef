"""A catch-up-then-live subscription outlives an unavailable store: it reads again from where
it stopped, and loses or repeats nothing; any other failure ends it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forze import Backoff, EventStoreUnavailable
from forze.contracts import RecordedEvent
from forze_eventstore import catch_up_then_live
from forze_eventstore.adapter_kit import CommitSignal, CutPage, outage_delay


def _event(position: int) -> RecordedEvent:
    return RecordedEvent(uuid4(), "Ticked", {}, {}, "tick-1", position, position, datetime.now(UTC))


class FlakyFeed:
    """A feed of ``count`` events whose reads fail as ``failures`` says (read n fails when
    ``failures[n]``), as a store does while its server restarts."""

    def __init__(self, count: int, failures: list[bool]) -> None:
        self.events = [_event(p) for p in range(1, count + 1)]
        self.failures = failures
        self.reads = 0

    async def read(self, after: int, limit: int) -> Sequence[RecordedEvent]:
        n, self.reads = self.reads, self.reads + 1
        if n < len(self.failures) and self.failures[n]:
            raise EventStoreUnavailable("the server is restarting")
        return [e for e in self.events if e.position > after][:limit]


async def _first(feed: FlakyFeed, count: int, page_size: int) -> list[int]:
    subscription = catch_up_then_live(
        feed.read, CommitSignal(), after=0, page_size=page_size, poll_interval=0.001
    )
    seen = []
    async for event in subscription:
        seen.append(event.position)
        if len(seen) == count:
            break
    await subscription.aclose()
    return seen


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    count=st.integers(1, 30),
    page_size=st.integers(1, 7),
    failures=st.lists(st.booleans(), max_size=12),
)
def test_a_subscription_reads_again_from_its_position_after_the_store_was_unavailable(
    count: int, page_size: int, failures: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the same patch for every example: nothing else changes between them
    monkeypatch.setattr("forze_eventstore.subscriptions._OUTAGES", Backoff(0.0001, 0.001))
    feed = FlakyFeed(count, failures)
    seen = asyncio.run(asyncio.wait_for(_first(feed, count, page_size), 10))
    assert seen == list(range(1, count + 1))


async def test_a_subscription_waits_longer_after_each_failure_in_a_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr("forze_eventstore.subscriptions.asyncio.sleep", sleep)
    feed = FlakyFeed(1, [True] * 10)
    assert await _first(feed, 1, 10) == [1]
    assert waits == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]
    assert waits == [outage_delay(n) for n in range(1, 11)]  # the projector's schedule too


async def test_a_failure_that_is_not_unavailability_ends_the_subscription() -> None:
    async def broken(after: int, limit: int) -> Sequence[RecordedEvent]:
        raise ValueError("a bug in the reader")

    subscription = catch_up_then_live(broken, CommitSignal(), after=0)
    with pytest.raises(ValueError, match="a bug"):
        await anext(subscription)


async def test_a_failure_the_store_would_repeat_ends_the_subscription() -> None:
    async def refused(after: int, limit: int) -> Sequence[RecordedEvent]:
        raise EventStoreUnavailable("the statement is refused", transient=False)

    subscription = catch_up_then_live(refused, CommitSignal(), after=0)
    with pytest.raises(EventStoreUnavailable, match="refused"):
        await anext(subscription)


async def test_a_page_cut_at_its_byte_budget_is_followed_by_the_next_read_at_once() -> None:
    """Pages of one event, cut by their budget, with a poll interval of a minute: catching
    up on ten events must not wait for the poll between pages."""
    events = [_event(p) for p in range(1, 11)]

    async def read(after: int, limit: int) -> Sequence[RecordedEvent]:
        rest = [e for e in events if e.position > after]
        return CutPage(rest[:1]) if len(rest) > 1 else rest[:1]

    subscription = catch_up_then_live(read, CommitSignal(), after=0, poll_interval=60)

    async def take() -> list[int]:
        return [(await anext(subscription)).position for _ in range(10)]

    assert await asyncio.wait_for(take(), 2) == list(range(1, 11))
    await subscription.aclose()


async def test_a_cancelled_subscription_ends_even_when_a_read_swallowed_the_cancel() -> None:
    """On Python 3.11 ``asyncio.wait_for`` (which PyMongo sends every command through)
    returns normally when its task is cancelled just as the work finishes: the read returns
    as if nothing happened, and the subscription must still end."""
    reading = asyncio.Event()

    async def read(after: int, limit: int) -> Sequence[RecordedEvent]:
        if not reading.is_set():  # the first read swallows the cancellation
            reading.set()
            with contextlib.suppress(asyncio.CancelledError):  # as the driver's wait_for does
                await asyncio.Event().wait()
        return []

    async def follow() -> None:
        async for _ in catch_up_then_live(read, CommitSignal(), after=0, poll_interval=0.001):
            pass

    task = asyncio.ensure_future(follow())
    await reading.wait()
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=5)
    assert task in done, "the cancelled subscription kept running"
    assert task.cancelled()


async def test_a_wait_cancelled_as_its_signal_arrives_is_cancelled() -> None:
    signal = CommitSignal()
    waiting = asyncio.ensure_future(signal.wait(signal.prepare(), 10))
    await asyncio.sleep(0)  # it waits now
    signal.notify()
    waiting.cancel()  # in the same turn of the loop as the signal
    with pytest.raises(asyncio.CancelledError):
        await waiting
