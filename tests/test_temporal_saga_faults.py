"""Sagas on Temporal when a service process dies: the dispatcher and the worker run in one
process (as deployed), which is killed after a step's effect but before Temporal heard of it,
then restarted."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from uuid import uuid4

from forze.domain.errors import BrokerUnavailable
from forze.execution import build_runtime
from forze_eventstore import SQLiteDatabase, SQLiteEventStore, event_store_module
from forze_projections import SQLiteProjectionBackend
from forze_projections.testing.saga_samples import (
    BOOKINGS,
    TRIP_SAGA,
    TRIPS,
    TripPaid,
    TripRequested,
)
from forze_temporal import TemporalSagaRunner
from tests.temporal_support import temporal_client

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENT = {**os.environ, "PYTHONPATH": str(ROOT)}
PATIENCE = 30.0


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def test_a_service_killed_mid_step_completes_the_saga_after_a_restart_with_each_effect_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "trips.sqlite"
    db = SQLiteDatabase(path, synchronous="NORMAL")
    events = SQLiteEventStore(db)
    backend = SQLiteProjectionBackend(db)
    run = uuid4().hex[:8]
    queue, prefix = f"faults-{run}", f"{run}-"
    services: list[asyncio.subprocess.Process] = []

    async def start() -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.saga_service",
            str(path),
            queue,
            prefix,
            stdout=asyncio.subprocess.PIPE,
            env=ENVIRONMENT,
            cwd=ROOT,
        )
        services.append(process)
        assert process.stdout is not None
        assert await asyncio.wait_for(process.stdout.readline(), PATIENCE) == b"ready\n"
        return process

    async def bookings() -> list[str]:
        return [e.event_type for e in await events.read_stream(BOOKINGS.stream_id("t1"))]

    try:
        async with build_runtime(event_store_module(events)) as runtime:
            trips = runtime.context().aggregates(TRIPS)
            await trips.append("t1", [TripRequested(trip_id="t1", linger_after_flight=60.0)])
            first = await start()

            async def flight_booked() -> bool:
                return "FlightBooked" in await bookings()

            await until(flight_booked, "the flight step appended its event")
            first.kill()  # SIGKILL mid-step: the step's effect is stored, Temporal not told
            await first.wait()
            paid = await trips.append("t1", [TripPaid(trip_id="t1")])
            await start()
            client = await temporal_client()
            runner = TemporalSagaRunner(client, [TRIP_SAGA], task_queue=queue, id_prefix=prefix)

            async def completed() -> bool:
                try:
                    found = await runner.instance(TRIP_SAGA.name, "t1")
                except BrokerUnavailable:  # a query waits for the dead worker's sticky queue
                    return False
                return found is not None and found.status == "completed"

            await until(completed, "the saga completed after the restart")
            # the retried flight step appended nothing new; the payment reached the instance
            assert await bookings() == ["HotelReserved", "FlightBooked"]

            async def resumed() -> bool:
                return await backend.checkpoints.load("saga:trips") >= paid.position

            await until(resumed, "the restarted dispatcher delivered the payment")
            found = await runner.instance(TRIP_SAGA.name, "t1")
            assert found is not None
            assert found.state["handled"] == 2
    finally:
        stopped = []
        for process in services:
            if process.returncode is None:
                process.terminate()
                try:
                    stopped.append(await asyncio.wait_for(process.wait(), 15))
                except TimeoutError:
                    process.kill()
                    await process.wait()
        db.close()
    assert stopped == [0], "the restarted service stops cleanly on SIGTERM"
