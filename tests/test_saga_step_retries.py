"""A step that fails for a passing reason is tried again, on both runners, and its effect
happens once; one that keeps failing past its attempts undoes the steps before it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from uuid import uuid4

import pytest
from pydantic import BaseModel

from forze import AGGREGATES, ConcurrencyError
from forze.adapter_kit import SagaRunner
from forze.execution import ExecutionContext, Runtime, Usecase, build_runtime
from forze_eventstore import InMemoryEventStore, event_store_module
from forze_mock import InProcessSagaRunner
from forze_projections.sagas import Retry, Saga, SagaContext, call, starts
from forze_projections.sagas.engine import SagaSnapshot
from forze_projections.testing.saga_samples import BOOKINGS, TRIPS, HotelReserved, TripRequested
from forze_temporal import SagaWorker, TemporalSagaRunner
from tests.temporal_support import time_skipping_env

FAILURES: dict[str, int] = {}
"""How many more times the step fails, by trip (the worker runs in this process)."""


class Flaky(BaseModel):
    trip_id: str


async def _flaky(ctx: ExecutionContext, step: Flaky) -> None:
    await ctx.aggregates(BOOKINGS).append(step.trip_id, [HotelReserved()])
    if FAILURES.get(step.trip_id, 0) > 0:
        FAILURES[step.trip_id] -= 1
        raise ConcurrencyError(BOOKINGS.stream_id(step.trip_id), 1, 2)


FLAKY = Usecase.command("flaky", _flaky, (AGGREGATES, BOOKINGS))
QUICK = Retry(attempts=3, first_delay=timedelta(milliseconds=10), max_delay=timedelta(seconds=1))


class Nothing(BaseModel):
    pass


def _requested(saga: SagaContext[Nothing], event: TripRequested) -> None:
    saga.run("flaky", call(FLAKY, Flaky(trip_id=event.trip_id)), retry=QUICK)
    saga.complete()


RETRYING = Saga.typed(
    "retrying",
    state=Nothing,
    specs=(TRIPS,),
    handlers=(starts(TripRequested, lambda e: e.trip_id, _requested),),
    usecases=(FLAKY,),
)

Instance = Callable[[str], Awaitable[SagaSnapshot | None]]


@asynccontextmanager
async def _in_process(runtime: Runtime) -> AsyncIterator[tuple[SagaRunner, Instance]]:
    runner = InProcessSagaRunner(runtime, [RETRYING])

    async def instance(key: str) -> SagaSnapshot | None:
        return runner.instance("retrying", key)

    yield runner, instance


@asynccontextmanager
async def _temporal(runtime: Runtime) -> AsyncIterator[tuple[SagaRunner, Instance]]:
    queue = f"retry-{uuid4().hex[:8]}"
    async with time_skipping_env() as env:
        runner = TemporalSagaRunner(
            env.client, [RETRYING], task_queue=queue, search_attributes=False
        )
        async with SagaWorker(env.client, runtime, [RETRYING], task_queue=queue):
            yield runner, lambda key: runner.instance("retrying", key)


@pytest.fixture(params=["in-process", "temporal"])
def runner_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _run_trip(kind: str, trip: str, failures: int) -> tuple[SagaSnapshot, list[str]]:
    FAILURES[trip] = failures
    events = InMemoryEventStore()
    opened = _in_process if kind == "in-process" else _temporal
    async with build_runtime(event_store_module(events)) as runtime:
        async with opened(runtime) as (runner, instance):
            await runtime.context().aggregates(TRIPS).append(trip, [TripRequested(trip_id=trip)])
            (event,) = await events.read_stream(TRIPS.stream_id(trip))
            await runner.deliver("retrying", trip, event)
            found = None
            for _ in range(400):
                found = await instance(trip)
                if found is not None and found.status != "running":
                    break
                await asyncio.sleep(0.025)
            assert found is not None
        stream = await events.read_stream(BOOKINGS.stream_id(trip))
    return found, [e.event_type for e in stream]


async def test_a_step_failing_twice_for_a_passing_reason_succeeds_with_one_effect(
    runner_kind: str,
) -> None:
    found, bookings = await _run_trip(runner_kind, f"t-{uuid4().hex[:6]}", failures=2)
    assert found.status == "completed"
    assert bookings == ["HotelReserved"]


async def test_a_step_failing_past_its_attempts_ends_the_instance_compensated(
    runner_kind: str,
) -> None:
    found, bookings = await _run_trip(runner_kind, f"t-{uuid4().hex[:6]}", failures=5)
    assert found.status == "compensated"
    assert "ConcurrencyError" in (found.error or "")
    assert "expected version 1, actual version 2" in (found.error or "")
    assert bookings == ["HotelReserved"]
