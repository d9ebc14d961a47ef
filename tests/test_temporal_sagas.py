"""Sagas on Temporal: the saga runner contract on the time-skipping test server and on the dev
server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from uuid import uuid4

from forze.execution import Runtime
from forze_projections.sagas import Saga
from forze_projections.testing.sagas import RunnerUnderTest, SagaRunnerContract
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
