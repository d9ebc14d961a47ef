"""A saga service process for ``tests/test_temporal_saga_faults.py``: dispatcher and worker.

    python -m tests.saga_service SQLITE_PATH TASK_QUEUE ID_PREFIX

Feeds the trip saga from the SQLite store at ``SQLITE_PATH`` (dispatcher ``trips``) to
Temporal (``FORZE_TEST_TEMPORAL_ADDRESS``) and runs its instances and steps on ``TASK_QUEUE``
(the steps append to the same store), until SIGTERM. Prints ``ready`` once both run: the
shape of a deployed service.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from forze.execution import build_runtime
from forze_eventstore import SQLiteDatabase, SQLiteEventStore, event_store_module
from forze_projections import SQLiteProjectionBackend
from forze_projections.sagas import SagaDispatcher
from forze_projections.testing.saga_samples import TRIP_SAGA
from forze_temporal import SagaWorker, TemporalSagaRunner, run_process
from tests.temporal_support import temporal_client

LEASE_SECONDS = 1.0
"""Short, so that a restarted service takes over from the killed one quickly."""


async def main(path: str, queue: str, prefix: str) -> None:
    db = SQLiteDatabase(Path(path), synchronous="NORMAL")
    events = SQLiteEventStore(db, poll_interval=0.05)
    client = await temporal_client()
    runner = TemporalSagaRunner(client, [TRIP_SAGA], task_queue=queue, id_prefix=prefix)
    dispatcher = SagaDispatcher(
        events,
        SQLiteProjectionBackend(db),
        runner,
        name="trips",
        sagas=[TRIP_SAGA],
        lease_seconds=LEASE_SECONDS,
    )
    stopped = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    try:
        async with (
            build_runtime(event_store_module(events)) as runtime,
            SagaWorker(client, runtime, [TRIP_SAGA], task_queue=queue),
            dispatcher,
        ):
            print("ready", flush=True)
            await stopped.wait()
    finally:
        db.close()


if __name__ == "__main__":
    run_process(lambda: main(*sys.argv[1:4]))
