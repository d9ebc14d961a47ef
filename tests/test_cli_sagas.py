"""``forze sagas status``: dispatchers from a SQLite file, instances from Temporal."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from uuid import uuid4

import pytest

from forze.contracts import NewEvent
from forze.execution import build_runtime
from forze_cli._main import main
from forze_eventstore import SQLiteDatabase, SQLiteEventStore, event_store_module
from forze_mock import InProcessSagaRunner
from forze_projections import FailurePolicy, SQLiteProjectionBackend
from forze_projections.sagas import SagaDispatcher
from forze_projections.testing.saga_samples import TRIP_SAGA, TRIPS, TripPaid, TripRequested
from forze_temporal import SagaWorker, TemporalSagaRunner, ensure_search_attributes
from tests.temporal_support import TEMPORAL_ADDRESS, temporal_client

HEADER = [
    "DISPATCHER", "CHECKPOINT", "HEAD", "LAG_ANY", "LAG_ANY_S", "MOVED_S", "STALLED", "HOLDER",
    "SKIPPED", "ERROR",
]  # fmt: skip


async def _dispatched_file(path: Path, runner_of: str = "memory", queue: str = "") -> None:
    """Two trips (one paid) and an undecodable request, dispatched with ``skip``."""
    db = SQLiteDatabase(path)
    try:
        events = SQLiteEventStore(db)
        async with build_runtime(event_store_module(events)) as runtime:
            trips = runtime.context().aggregates(TRIPS)
            await trips.append("a", [TripRequested(trip_id="a"), TripPaid(trip_id="a")])
            await events.append(TRIPS.stream_id("x"), [NewEvent("TripRequested", {"no": 1})])
            await trips.append("b", [TripRequested(trip_id="b")])
            if runner_of == "memory":
                runner: InProcessSagaRunner | TemporalSagaRunner = InProcessSagaRunner(
                    runtime, [TRIP_SAGA]
                )
                await _dispatch(events, SQLiteProjectionBackend(db), runner)
                return
            client = await temporal_client()
            await ensure_search_attributes(client)
            runner = TemporalSagaRunner(client, [TRIP_SAGA], task_queue=queue, id_prefix=queue)
            async with SagaWorker(client, runtime, [TRIP_SAGA], task_queue=queue):
                await _dispatch(events, SQLiteProjectionBackend(db), runner)
                deadline = time.monotonic() + 30
                while (await runner.counts("trip"))["completed"] < 1:
                    assert time.monotonic() < deadline, "trip a completed"
                    await asyncio.sleep(0.1)
    finally:
        db.close()


async def _dispatch(
    events: SQLiteEventStore,
    backend: SQLiteProjectionBackend,
    runner: InProcessSagaRunner | TemporalSagaRunner,
) -> None:
    skip = FailurePolicy(on_error="skip")
    await SagaDispatcher(
        events, backend, runner, name="trips", sagas=[TRIP_SAGA], policy=skip
    ).catch_up()


def test_sagas_status_shows_each_dispatchers_checkpoint_and_skipped_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "trips.sqlite"
    asyncio.run(_dispatched_file(path))
    assert main(["sagas", "status", "--db", str(path)]) == 0
    header, line = capsys.readouterr().out.splitlines()
    assert header.split() == HEADER
    cells = line.split(maxsplit=len(HEADER) - 1)
    assert cells[0] == "trips"
    assert cells[1] == "4"
    assert cells[8] == "1"
    assert "at 3:" in cells[9]


def test_sagas_status_counts_instances_on_temporal_by_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "trips.sqlite"
    queue = f"cli-{uuid4().hex[:8]}"
    asyncio.run(_dispatched_file(path, "temporal", queue))
    arguments = ["--temporal", TEMPORAL_ADDRESS, "--task-queue", queue, "--saga", "trip"]
    assert main(["sagas", "status", "--db", str(path), *arguments]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].split() == ["SAGA", "RUNNING", "COMPLETED", "COMPENSATED", "FAILED"]
    assert lines[-1].split() == ["trip", "1", "1", "0", "0"]


def test_an_unreachable_temporal_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "trips.sqlite"
    asyncio.run(_dispatched_file(path))
    arguments = ["--temporal", "127.0.0.1:1", "--saga", "trip"]
    assert main(["sagas", "status", "--db", str(path), *arguments]) == 2
    error = capsys.readouterr().err
    assert "Temporal at 127.0.0.1:1" in error
    assert "Traceback" not in error
