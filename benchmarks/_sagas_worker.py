"""The worker process of ``sagas.py``'s latency scenario: a ``SagaWorker`` of the trip saga in a
process of its own, as a deployment runs its workers (another service).

``python _sagas_worker.py SQLITE_PATH TASK_QUEUE LIMIT`` runs the trip saga's instances and
steps on ``TASK_QUEUE`` of the Temporal dev server (``FORZE_TEST_TEMPORAL_ADDRESS``), the
steps appending to the SQLite store at ``SQLITE_PATH`` (the parent's), prints ``ready`` once
the worker runs, and stops on SIGTERM (or after LIMIT seconds: a backstop, the parent stops it
sooner). Nothing else goes to stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from temporalio.client import Client

from forze.execution import build_runtime
from forze_eventstore import SQLiteDatabase, SQLiteEventStore, event_store_module
from forze_projections.testing.saga_samples import TRIP_SAGA
from forze_temporal import SagaWorker, run_process

if TYPE_CHECKING:  # mypy names the file by its path; at run time benchmarks/ is sys.path[0]
    from benchmarks._sagas_run import CONNECT_SECONDS, TEMPORAL_ADDRESS
else:
    from _sagas_run import CONNECT_SECONDS, TEMPORAL_ADDRESS


async def serve(path: str, queue: str, limit: float) -> None:
    """Run the worker until SIGTERM or ``limit`` seconds."""
    db = SQLiteDatabase(Path(path), synchronous="NORMAL")
    stopped = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    try:
        client = await Client.connect(
            TEMPORAL_ADDRESS, connect_timeout=timedelta(seconds=CONNECT_SECONDS)
        )
        async with (
            build_runtime(event_store_module(SQLiteEventStore(db))) as runtime,
            SagaWorker(client, runtime, [TRIP_SAGA], task_queue=queue, shutdown_seconds=1.0),
        ):
            sys.stdout.write("ready\n")
            sys.stdout.flush()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopped.wait(), limit)
    finally:
        db.close()


if __name__ == "__main__":
    run_process(lambda: serve(sys.argv[1], sys.argv[2], float(sys.argv[3])))
