"""The saga dispatcher on a SQLite store: the feed reaches saga instances, checkpointed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from forze.contracts import NewEvent
from forze.execution import Runtime, build_runtime
from forze_eventstore import SQLiteDatabase, SQLiteEventStore, event_store_module
from forze_mock import InProcessSagaRunner
from forze_projections import FailurePolicy, ProjectionState, SQLiteProjectionBackend
from forze_projections.sagas import DispatchFailed, SagaDispatcher
from forze_projections.testing.saga_samples import (
    BOOKINGS,
    TRIP_SAGA,
    TRIPS,
    TripPaid,
    TripRequested,
)


@dataclass
class Rig:
    events: SQLiteEventStore
    backend: SQLiteProjectionBackend
    runtime: Runtime
    runner: InProcessSagaRunner

    def dispatcher(self, **options: object) -> SagaDispatcher:
        return SagaDispatcher(
            self.events,
            self.backend,
            self.runner,
            name="trips",
            sagas=[TRIP_SAGA],
            **options,  # type: ignore[arg-type]
        )

    async def trip(self, trip: str, *, paid: bool = False) -> int:
        """Append a trip request (and its payment); the last position."""
        repository = self.runtime.context().aggregates(TRIPS)
        events = [TripRequested(trip_id=trip)] + ([TripPaid(trip_id=trip)] if paid else [])
        return (await repository.append(trip, events)).position

    async def bookings(self, trip: str) -> list[str]:
        return [e.event_type for e in await self.events.read_stream(BOOKINGS.stream_id(trip))]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    db = SQLiteDatabase(tmp_path / "trips.db")
    events = SQLiteEventStore(db, poll_interval=0.02)
    try:
        async with build_runtime(event_store_module(events)) as runtime:
            runner = InProcessSagaRunner(runtime, [TRIP_SAGA])
            yield Rig(events, SQLiteProjectionBackend(db), runtime, runner)
    finally:
        db.close()


async def test_catching_up_delivers_each_trip_to_its_instance(rig: Rig) -> None:
    await rig.trip("a", paid=True)
    await rig.trip("b")
    status = await rig.dispatcher().catch_up()
    assert rig.runner.instance("trip", "a").status == "completed"  # type: ignore[union-attr]
    assert rig.runner.instance("trip", "b").status == "running"  # type: ignore[union-attr]
    assert await rig.bookings("a") == ["HotelReserved", "FlightBooked"]
    assert status.delivered == 3
    # the steps appended booking events meanwhile: the next pass moves past them
    assert (await rig.dispatcher().catch_up()).lag_events == 0
    assert status.instances == {
        "trip": {"running": 1, "completed": 1, "compensated": 0, "failed": 0}
    }


async def test_a_new_dispatcher_resumes_from_its_checkpoint(rig: Rig) -> None:
    await rig.trip("a")
    await rig.dispatcher().catch_up()
    await rig.trip("b")
    status = await rig.dispatcher().catch_up()
    assert status.delivered == 1
    assert rig.runner.instance("trip", "b") is not None


async def test_delivering_the_whole_feed_again_changes_nothing(rig: Rig) -> None:
    await rig.trip("a", paid=True)
    await rig.dispatcher().catch_up()
    await rig.backend.checkpoints.reset("saga:trips")
    status = await rig.dispatcher().catch_up()
    assert status.delivered == 2
    assert await rig.bookings("a") == ["HotelReserved", "FlightBooked"]
    assert rig.runner.instance("trip", "a").state["handled"] == 2  # type: ignore[union-attr]


async def test_a_live_dispatcher_delivers_new_events(rig: Rig) -> None:
    async with rig.dispatcher() as dispatcher:
        position = await rig.trip("a", paid=True)
        await dispatcher.wait_until(position, timeout=5)
    assert rig.runner.instance("trip", "a").status == "completed"  # type: ignore[union-attr]


async def _undecodable(rig: Rig) -> None:
    await rig.events.append(TRIPS.stream_id("x"), [NewEvent("TripRequested", {"trip": 1})])


async def test_an_event_whose_key_cannot_be_read_stops_the_dispatcher_by_default(
    rig: Rig,
) -> None:
    await rig.trip("a")
    await _undecodable(rig)
    await rig.trip("b")
    dispatcher = rig.dispatcher()
    with pytest.raises(DispatchFailed, match="TripRequested"):
        await dispatcher.catch_up()
    status = await dispatcher.status()
    assert status.state is ProjectionState.FAILED
    assert status.error is not None
    assert "position 2" in status.error
    assert status.checkpoint == 0  # the page is delivered whole or not at all
    assert rig.runner.instance("trip", "b") is None


async def test_with_skip_an_undecodable_event_is_recorded_and_the_rest_delivered(
    rig: Rig,
) -> None:
    await _undecodable(rig)
    await rig.trip("b")
    dispatcher = rig.dispatcher(policy=FailurePolicy(on_error="skip"))
    status = await dispatcher.catch_up()
    assert (status.delivered, status.skipped) == (1, 1)
    (failure,) = await dispatcher.failures()
    assert failure.position == 1
    assert rig.runner.instance("trip", "b") is not None


async def test_many_instances_are_delivered_to_concurrently_each_in_order(rig: Rig) -> None:
    for n in range(40):
        await rig.trip(f"t{n}", paid=n % 2 == 0)
    status = await rig.dispatcher(lanes=8, batch_size=7).catch_up()
    counts = await rig.runner.counts("trip")
    assert (counts["completed"], counts["running"]) == (20, 20)
    assert status.delivered == 60
    await asyncio.sleep(0)
