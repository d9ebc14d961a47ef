"""``temporal_module``: the runtime owns the Temporal client; the worker and the dispatcher
are built from its ``SAGAS`` port."""

from __future__ import annotations

import asyncio
import time
from uuid import uuid4

import pytest

from forze.domain.errors import BrokerUnavailable, WiringError
from forze.execution import SAGAS, DepsModule, build_runtime
from forze_eventstore import InMemoryEventStore, event_store_module
from forze_mock import InMemoryIdempotencyStore
from forze_projections import InMemoryProjectionBackend
from forze_projections.sagas import SagaDispatcher
from forze_projections.testing.saga_samples import TRIP_SAGA, TRIPS, TripPaid, TripRequested
from forze_temporal import SagaWorker, TemporalSagaRunner, temporal_module
from tests.temporal_support import TEMPORAL_ADDRESS


async def test_a_runtime_with_the_module_runs_a_saga_end_to_end() -> None:
    run = uuid4().hex[:8]
    events = InMemoryEventStore(poll_interval=0.02)
    module = temporal_module(
        TEMPORAL_ADDRESS, [TRIP_SAGA], task_queue=f"module-{run}", id_prefix=f"{run}-"
    )
    async with build_runtime(event_store_module(events), module) as runtime:
        runner = runtime.port(SAGAS)
        assert isinstance(runner, TemporalSagaRunner)
        dispatcher = SagaDispatcher(
            events, InMemoryProjectionBackend(), runner, name="trips", sagas=[TRIP_SAGA]
        )
        async with SagaWorker.serving(runtime), dispatcher:
            trips = runtime.context().aggregates(TRIPS)
            await trips.append("t1", [TripRequested(trip_id="t1"), TripPaid(trip_id="t1")])
            deadline = time.monotonic() + 30
            while True:
                found = await runner.instance("trip", "t1")
                if found is not None and found.status != "running":
                    break
                assert time.monotonic() < deadline, f"the trip ended: {found}"
                await asyncio.sleep(0.05)
    assert found.status == "completed"


async def test_a_server_that_does_not_answer_fails_the_runtime_start_within_the_timeout() -> None:
    module = temporal_module("127.0.0.1:1", [TRIP_SAGA], task_queue="x", timeout_seconds=2)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable, match=r"Temporal at 127\.0\.0\.1:1"):
        async with build_runtime(module):
            pass
    assert time.monotonic() - started < 10


async def test_a_worker_cannot_serve_a_runtime_whose_sagas_port_is_not_temporal() -> None:
    other = DepsModule("other").provide(SAGAS, InMemoryIdempotencyStore())  # type: ignore[misc]
    async with build_runtime(other) as runtime:
        with pytest.raises(WiringError, match="TemporalSagaRunner"):
            SagaWorker.serving(runtime)
