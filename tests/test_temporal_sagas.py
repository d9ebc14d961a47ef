"""Sagas on Temporal: the saga runner contract on the time-skipping test server and on the dev
server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from uuid import uuid4

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from forze.execution import Runtime, build_runtime
from forze_eventstore import InMemoryEventStore, event_store_module
from forze_projections.sagas import Saga
from forze_projections.testing.saga_samples import TRIP_SAGA
from forze_projections.testing.sagas import RunnerUnderTest, SagaRig, SagaRunnerContract
from forze_temporal import SagaWorker, TemporalSagaRunner, ensure_search_attributes
from tests.temporal_support import temporal_client, time_skipping_env


class TestTemporalSagaRunner(SagaRunnerContract):
    """On the time-skipping server: timers fire when the test lets time pass; it has no
    visibility store, so instances are not counted here (the dev-server cases count them)."""

    counts_instances = False

    @asynccontextmanager
    async def open_runner(
        self, runtime: Runtime, sagas: Sequence[Saga[Any]]
    ) -> AsyncIterator[RunnerUnderTest]:
        queue = f"sagas-{uuid4().hex[:8]}"
        async with time_skipping_env() as env:
            runner = TemporalSagaRunner(
                env.client, sagas, task_queue=queue, search_attributes=False
            )

            async def advance(by: timedelta) -> None:
                await env.sleep(by)

            async with SagaWorker(env.client, runtime, sagas, task_queue=queue):
                yield RunnerUnderTest(runner, advance, runner.instance)


class TestTemporalSagaRunnerOnTheDevServer(SagaRunnerContract):
    """On the dev server (``.ci/ensure-services.sh``): real time (a 3 s payment window) and a
    visibility store, so instances are counted by their search attributes."""

    payment_window = timedelta(seconds=3)

    @asynccontextmanager
    async def open_runner(
        self, runtime: Runtime, sagas: Sequence[Saga[Any]]
    ) -> AsyncIterator[RunnerUnderTest]:
        run = uuid4().hex[:8]
        queue = f"sagas-{run}"
        client = await temporal_client()
        await ensure_search_attributes(client)
        runner = TemporalSagaRunner(client, sagas, task_queue=queue, id_prefix=f"{run}-")

        async def advance(by: timedelta) -> None:
            await asyncio.sleep(by.total_seconds())

        async with SagaWorker(client, runtime, sagas, task_queue=queue):
            yield RunnerUnderTest(runner, advance, runner.instance)


async def _renewed(client: Client, workflow_id: str) -> None:
    """Wait until the workflow's latest run continued an earlier one. It reads the history
    (the server answers alone), not the instance by query: a query sent while a run continues
    as new can wait out its whole deadline on the time-skipping server."""
    async with asyncio.timeout(60):
        while True:
            try:
                history = await client.get_workflow_handle(workflow_id).fetch_history()
            except RPCError:  # not started yet
                history = None
            if history is not None:
                started = history.events[0].workflow_execution_started_event_attributes
                if started.continued_execution_run_id:
                    return
            await asyncio.sleep(0.05)


async def test_an_instance_continued_as_new_keeps_its_state_and_the_events_it_handled() -> None:
    events = InMemoryEventStore(poll_interval=0.02)
    queue = f"renew-{uuid4().hex[:8]}"
    async with (
        build_runtime(event_store_module(events)) as runtime,
        time_skipping_env() as env,
    ):
        runner = TemporalSagaRunner(
            env.client,
            [TRIP_SAGA],
            task_queue=queue,
            search_attributes=False,
            continue_as_new_after=1,
        )
        rig = SagaRig(events, runtime, RunnerUnderTest(runner, env.sleep, runner.instance))
        async with SagaWorker(env.client, runtime, [TRIP_SAGA], task_queue=queue):
            requested = await rig.request("t1")
            await _renewed(env.client, "trip-t1")
            await runner.deliver(TRIP_SAGA.name, "t1", requested)  # after the renewal
            await rig.pay("t1")
            found = await rig.settled("t1", lambda s: s.status != "running")
            history = await env.client.get_workflow_handle("trip-t1").fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert started.continued_execution_run_id, "the last run continued an earlier one"
    assert (found.status, found.state["handled"]) == ("completed", 2)
    assert await rig.bookings("t1") == ["HotelReserved", "FlightBooked"]


async def test_a_cancelled_instance_undoes_its_completed_steps_newest_first() -> None:
    events = InMemoryEventStore(poll_interval=0.02)
    queue = f"cancel-{uuid4().hex[:8]}"
    async with (
        build_runtime(event_store_module(events)) as runtime,
        time_skipping_env() as env,
    ):
        runner = TemporalSagaRunner(
            env.client, [TRIP_SAGA], task_queue=queue, search_attributes=False
        )
        rig = SagaRig(events, runtime, RunnerUnderTest(runner, env.sleep, runner.instance))
        async with SagaWorker(env.client, runtime, [TRIP_SAGA], task_queue=queue):
            await rig.request("t1")
            await rig.settled("t1", lambda s: len(s.done) >= 2 and bool(s.timers))
            await runner.cancel(TRIP_SAGA.name, "t1")
            status = await runner.status_of(TRIP_SAGA.name, "t1")
            deadline = asyncio.get_running_loop().time() + 20
            while status != WorkflowExecutionStatus.CANCELED:
                assert asyncio.get_running_loop().time() < deadline, f"still {status}"
                await asyncio.sleep(0.05)
                status = await runner.status_of(TRIP_SAGA.name, "t1")
            bookings = await rig.bookings("t1")
    assert bookings == ["HotelReserved", "FlightBooked", "FlightCancelled", "HotelCancelled"]
