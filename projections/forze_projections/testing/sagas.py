"""The saga runner contract: what every ``SagaRunner`` does with the same saga definitions.

A runner adapter's test module subclasses ``SagaRunnerContract`` and implements
``open_runner``: given a running ``Runtime`` (its event store in memory) and saga definitions,
an async context manager giving a :class:`RunnerUnderTest` (the runner, how to let time pass
for it, and how to read an instance). The cases run the trip saga of
``forze_projections.testing.saga_samples`` and read its effects from the event store, so a
step that ran twice shows::

    class TestInProcessSagas(SagaRunnerContract):
        @asynccontextmanager
        async def open_runner(self, runtime, sagas):
            runner = InProcessSagaRunner(runtime, sagas)
            yield RunnerUnderTest(runner, runner.advance, runner.instance)
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from forze.contracts import EventStore, RecordedEvent, SagaRunner
from forze.domain.values import DomainEvent
from forze.execution import Runtime, build_runtime
from forze_eventstore import InMemoryEventStore, event_store_module
from forze_projections.sagas import Saga
from forze_projections.sagas.engine import SagaSnapshot
from forze_projections.testing.saga_samples import (
    BOOKINGS,
    PAYMENT_WINDOW,
    TRIP_SAGA,
    TRIPS,
    TripPaid,
    TripRequested,
)

__all__ = ["RunnerUnderTest", "SagaRunnerContract"]

SETTLE_SECONDS = 30.0
"""How long a case waits for an instance to reach what it expects."""


@dataclass(frozen=True, slots=True)
class RunnerUnderTest:
    """A runner, how to let time pass for its instances, and how to read one instance."""

    runner: SagaRunner
    advance: Callable[[timedelta], Awaitable[object]]
    """Let the given time pass for the runner's timers (a manual or time-skipping clock)."""
    instance: Callable[[str, str], Awaitable[SagaSnapshot | None] | SagaSnapshot | None]
    """``instance(saga, key)``: the instance as it is now (``None``: never started)."""


@dataclass(slots=True)
class SagaRig:
    """One case's store, runtime and runner."""

    events: EventStore
    runtime: Runtime
    under: RunnerUnderTest

    async def request(self, trip: str, **fields: Any) -> RecordedEvent:
        """Append ``TripRequested`` for ``trip`` and deliver it; the recorded event."""
        event = await self.append(trip, TripRequested(trip_id=trip, **fields))
        await self.under.runner.deliver(TRIP_SAGA.name, trip, event)
        return event

    async def pay(self, trip: str) -> RecordedEvent:
        """Append ``TripPaid`` for ``trip`` and deliver it."""
        event = await self.append(trip, TripPaid(trip_id=trip))
        await self.under.runner.deliver(TRIP_SAGA.name, trip, event)
        return event

    async def append(self, trip: str, event: DomainEvent) -> RecordedEvent:
        """Append ``event`` to ``trip-<trip>``; the recorded event."""
        await self.runtime.context().aggregates(TRIPS).append(trip, [event])
        recorded = await self.events.read_stream(TRIPS.stream_id(trip))
        return recorded[-1]

    async def bookings(self, trip: str) -> list[str]:
        """The types of the events the steps of ``trip`` appended, in order."""
        stream = BOOKINGS.stream_id(trip)
        return [e.event_type for e in await self.events.read_stream(stream)]

    async def instance(self, trip: str) -> SagaSnapshot | None:
        """The trip's instance now."""
        found = self.under.instance(TRIP_SAGA.name, trip)
        if isinstance(found, Awaitable):
            return await found
        return found

    async def counted(self, expected: dict[str, int]) -> dict[str, int]:
        """The runner's counts once they are ``expected`` (a visibility store lags), or as
        they are after a while."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            found = dict(await self.under.runner.counts(TRIP_SAGA.name))
            if found == expected or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.05)

    async def settled(self, trip: str, until: Callable[[SagaSnapshot], bool]) -> SagaSnapshot:
        """The trip's instance once ``until`` holds (``AssertionError`` after a while)."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            found = await self.instance(trip)
            if found is not None and until(found):
                return found
            assert time.monotonic() < deadline, f"instance {trip!r} is {found!r}"
            await asyncio.sleep(0.02)


def _after_steps(snapshot: SagaSnapshot) -> bool:
    """Both steps of the trip ended (``steps`` counts those asked for: the second may still
    run), or the instance ended."""
    return snapshot.status != "running" or (len(snapshot.done) >= 2 and bool(snapshot.timers))


class SagaRunnerContract(ABC):
    """Every runner runs the same definitions alike (see the module).

    ``payment_window``: the trip's payment window in the timer case (shorten it for a
    runner whose ``advance`` waits in real time). ``counts_instances``: whether the runner
    under test can count instances (``False`` only for a server without visibility)."""

    payment_window = PAYMENT_WINDOW
    counts_instances = True

    @abstractmethod
    def open_runner(
        self, runtime: Runtime, sagas: Sequence[Saga[Any]]
    ) -> AbstractAsyncContextManager[RunnerUnderTest]:
        """A runner of ``sagas`` whose steps run usecases on ``runtime``."""

    @pytest.fixture
    async def rig(self) -> AsyncIterator[SagaRig]:
        """A fresh store, a runtime on it and a runner of the trip saga."""
        events = InMemoryEventStore(poll_interval=0.02)
        async with (
            build_runtime(event_store_module(events)) as runtime,
            self.open_runner(runtime, [TRIP_SAGA]) as under,
        ):
            yield SagaRig(events, runtime, under)

    async def test_a_starting_event_runs_the_steps_in_order_and_waits(self, rig: SagaRig) -> None:
        await rig.request("t1")
        found = await rig.settled("t1", _after_steps)
        assert found.status == "running"
        booked = await rig.bookings("t1")
        assert booked == ["HotelReserved", "FlightBooked"], (booked, found)
        assert found.state["trip_id"] == "t1"
        assert list(found.timers) == ["payment"]

    async def test_the_reacting_event_completes_the_instance(self, rig: SagaRig) -> None:
        await rig.request("t1")
        await rig.settled("t1", _after_steps)
        await rig.pay("t1")
        found = await rig.settled("t1", lambda s: s.status != "running")
        assert found.status == "completed"
        assert found.state["paid"] is True
        assert await rig.bookings("t1") == ["HotelReserved", "FlightBooked"]
        expected = {"running": 0, "completed": 1, "compensated": 0, "failed": 0}
        if not self.counts_instances:
            expected = {}  # a runner that cannot count says so with no counts at all
        assert await rig.counted(expected) == expected

    async def test_an_event_delivered_again_changes_nothing(self, rig: SagaRig) -> None:
        requested = await rig.request("t1")
        await rig.settled("t1", _after_steps)
        for _ in range(3):
            await rig.under.runner.deliver(TRIP_SAGA.name, "t1", requested)
        paid = await rig.pay("t1")
        await rig.under.runner.deliver(TRIP_SAGA.name, "t1", paid)
        found = await rig.settled("t1", lambda s: s.status != "running")
        assert found.state["handled"] == 2
        assert await rig.bookings("t1") == ["HotelReserved", "FlightBooked"]

    async def test_a_step_failing_for_good_undoes_the_earlier_ones_newest_first(
        self, rig: SagaRig
    ) -> None:
        await rig.request("t1", fail_flight=True)
        found = await rig.settled("t1", lambda s: s.status != "running")
        assert found.status == "compensated"
        assert "flight" in (found.error or "")
        assert found.compensated == ["hotel"]
        assert await rig.bookings("t1") == ["HotelReserved", "HotelCancelled"]

    async def test_a_timeout_fires_after_its_time_and_undoes_every_step(self, rig: SagaRig) -> None:
        window = self.payment_window
        await rig.request("t1", pay_within_seconds=window.total_seconds())
        await rig.settled("t1", _after_steps)
        await rig.under.advance(window / 3)
        assert (await rig.settled("t1", _after_steps)).status == "running"
        await rig.under.advance(window)
        found = await rig.settled("t1", lambda s: s.status != "running")
        assert found.status == "compensated"
        assert found.compensated == ["flight", "hotel"]
        assert await rig.bookings("t1") == [
            "HotelReserved",
            "FlightBooked",
            "FlightCancelled",
            "HotelCancelled",
        ]

    async def test_a_reacting_event_without_an_instance_is_ignored(self, rig: SagaRig) -> None:
        await rig.pay("t9")
        await asyncio.sleep(0.2)
        assert await rig.instance("t9") is None
        assert await rig.bookings("t9") == []

    async def test_a_handler_that_raises_fails_the_instance(self, rig: SagaRig) -> None:
        await rig.request("t1", explode=True)
        found = await rig.settled("t1", lambda s: s.status != "running")
        assert found.status == "failed"
        assert "exploded" in (found.error or "")
        assert await rig.bookings("t1") == []

    async def test_an_ended_instance_takes_no_more_events(self, rig: SagaRig) -> None:
        await rig.request("t1")
        await rig.settled("t1", _after_steps)
        await rig.pay("t1")
        await rig.settled("t1", lambda s: s.status != "running")
        again = await rig.append("t1", TripRequested(trip_id="t1"))
        await rig.under.runner.deliver(TRIP_SAGA.name, "t1", again)
        await asyncio.sleep(0.2)
        found = await rig.instance("t1")
        assert found is not None
        assert (found.status, found.state["handled"]) == ("completed", 2)
        assert await rig.bookings("t1") == ["HotelReserved", "FlightBooked"]

    async def test_instances_run_independently(self, rig: SagaRig) -> None:
        await rig.request("t1", fail_flight=True)
        await rig.request("t2")
        await rig.pay("t2")
        one = await rig.settled("t1", lambda s: s.status != "running")
        two = await rig.settled("t2", lambda s: s.status != "running")
        assert (one.status, two.status) == ("compensated", "completed")
        assert await rig.bookings("t2") == ["HotelReserved", "FlightBooked"]

    async def test_concurrent_duplicate_deliveries_have_one_effect(self, rig: SagaRig) -> None:
        requested = await rig.append("t1", TripRequested(trip_id="t1"))
        runner = rig.under.runner
        await asyncio.gather(*(runner.deliver(TRIP_SAGA.name, "t1", requested) for _ in range(5)))
        found = await rig.settled("t1", _after_steps)
        assert found.state["handled"] == 1
        assert await rig.bookings("t1") == ["HotelReserved", "FlightBooked"]
