"""Projections across real processes, on SQLite and PostgreSQL.

A service process follows the feed while another process rebuilds the projection (the CLI on
SQLite), and a standby process takes over when the holder is killed with SIGKILL. Events keep
arriving meanwhile; every run ends with the read model equal to a fresh fold of the feed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from forze.contracts import EventStore, NewEvent
from forze_eventstore import SQLiteDatabase, SQLiteEventStore
from forze_mongo import MongoEventStore, MongoProjectionBackend
from forze_postgres import PostgresEventStore, PostgresProjectionBackend
from forze_projections import ProjectionBackend, SQLiteProjectionBackend
from forze_projections.testing import documents, fold
from tests.mongo_support import MONGO_URL, fresh_database
from tests.postgres_support import fresh_schema

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENT = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
PATIENCE = 60.0
"""Seconds a process may take to start, finish or catch up (a loaded CI machine)."""


@dataclass
class Place:
    """Where the processes meet: worker arguments naming the store, and the test's own view."""

    arguments: list[str]
    events: EventStore
    backend: ProjectionBackend
    kind: str


@pytest.fixture(params=["sqlite", "postgres", "mongo"])
async def place(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_dsn: str
) -> AsyncIterator[Place]:
    """A fresh store for the processes, on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "shared.sqlite"
        db = SQLiteDatabase(path, synchronous="NORMAL")
        try:
            yield Place(
                ["sqlite", str(path)], SQLiteEventStore(db), SQLiteProjectionBackend(db), "sqlite"
            )
        finally:
            db.close()
        return
    if request.param == "mongo":
        async with fresh_database() as mongo:
            events = MongoEventStore(mongo)
            await events.migrate()
            try:
                on_mongo = MongoProjectionBackend(mongo)
                yield Place(["mongo", MONGO_URL, mongo.name], events, on_mongo, "mongo")
            finally:
                await events.close()
        return
    async with fresh_schema(postgres_dsn) as pg:
        store = PostgresEventStore(pg)
        await store.migrate()
        try:
            backend = PostgresProjectionBackend(pg)
            yield Place(["postgres", postgres_dsn, pg.schema], store, backend, "postgres")
        finally:
            await store.close()


class Worker:
    """A ``tests.projection_worker`` process."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, *arguments: str) -> Worker:
        """Start ``python -m tests.projection_worker ARGUMENTS`` and wait until it is ready."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.projection_worker",
            *arguments,
            stdout=asyncio.subprocess.PIPE,
            env=ENVIRONMENT,
            cwd=ROOT,
        )
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), PATIENCE)
        assert line == b"ready\n", line
        return cls(process)

    async def result(self) -> dict[str, Any]:
        """The status the worker prints when it ends, once it ended well."""
        assert self.process.stdout is not None
        output = await asyncio.wait_for(self.process.stdout.read(), PATIENCE)
        assert await self.process.wait() == 0
        return dict(json.loads(output.decode().strip().splitlines()[-1]))

    async def stop(self) -> dict[str, Any]:
        """SIGTERM, then the status it printed."""
        self.process.send_signal(signal.SIGTERM)
        return await self.result()

    async def kill(self) -> None:
        """SIGKILL: no release, no cleanup, as a crash or an OOM kill."""
        self.process.kill()
        await self.process.wait()


@asynccontextmanager
async def workers() -> AsyncIterator[list[Worker]]:
    """Workers started in the block are killed if it fails."""
    started: list[Worker] = []
    try:
        yield started
    finally:
        for worker in started:
            if worker.process.returncode is None:
                await worker.kill()


async def append_events(events: EventStore, count: int, *, pause: float = 0.0) -> None:
    """``count`` tally events over five streams, one append each (``pause`` s apart)."""
    for n in range(count):
        data = {"amount": n % 17, "seq": n}
        await events.append(f"tally-{n % 5}", [NewEvent("Added", data)])
        if pause:
            await asyncio.sleep(pause)


async def preload(events: EventStore, count: int) -> None:
    """``count`` events, appended in a few large appends."""
    for n in range(0, count, 100):
        batch = [NewEvent("Added", {"amount": k % 13, "seq": k}) for k in range(n, n + 100)]
        await events.append(f"tally-bulk-{n // 100 % 7}", batch)


async def holder_becomes(place: Place, owner: str) -> float:
    """Seconds until ``owner`` holds the ``tallies`` lease."""
    started = time.monotonic()
    while True:
        lease = await place.backend.leases.read("tallies")
        if lease is not None and lease.holder == owner:
            return time.monotonic() - started
        assert time.monotonic() - started < PATIENCE, f"{owner} never took the lease"
        await asyncio.sleep(0.02)


async def caught_up(place: Place) -> None:
    """Until the ``tallies`` checkpoint reaches the head."""
    head = await place.events.head_position()
    deadline = time.monotonic() + PATIENCE
    while await place.backend.checkpoints.load("tallies@v1") < head:
        assert time.monotonic() < deadline, "the projection never caught up"
        await asyncio.sleep(0.02)


async def cli(*arguments: str) -> tuple[int, str, str]:
    """Run ``forze ARGUMENTS`` in a process of its own; exit status, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys; from forze_cli import main; sys.exit(main())",
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=ENVIRONMENT,
        cwd=ROOT,
    )
    out, err = await asyncio.wait_for(process.communicate(), PATIENCE)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def folded(place: Place) -> list[dict[str, Any]]:
    """What the read model must hold: a fresh fold of the whole feed."""
    return fold(list(await place.events.read_all(limit=1_000_000)))


async def test_a_rebuild_from_another_process_while_a_service_follows_ends_with_every_document(
    place: Place,
) -> None:
    await preload(place.events, 2_000)
    async with workers() as started:
        service = await Worker.start("serve", *place.arguments, "service")
        started.append(service)
        await holder_becomes(place, "service")
        await caught_up(place)
        arriving = asyncio.ensure_future(append_events(place.events, 300, pause=0.002))
        if place.kind == "sqlite":
            db = [
                "--db",
                place.arguments[1],
                "--projections",
                "tests.projection_worker:PROJECTIONS",
            ]
            code, out, err = await cli("projections", "status", *db)
            assert (code, "service" in out) == (0, True), (out, err)
            code, out, err = await cli("projections", "reset", "tallies", "--yes", *db)
            assert code == 2
            assert "run by service" in err
            code, out, err = await cli("projections", "rebuild", "tallies", *db)
            assert code == 0, err
            assert "run by service" in out
        else:
            rebuilder = await Worker.start("rebuild", *place.arguments, "operator")
            started.append(rebuilder)
            rebuilt = await rebuilder.result()
            assert (rebuilt["holder"], rebuilt["error"]) == ("service", None)
        await arriving
        lease = await place.backend.leases.read("tallies")
        assert lease is not None
        assert (lease.rebuilds_done, lease.rebuild_pending) == (1, False)
        await caught_up(place)
        final = await service.stop()
        assert (final["error"], final["state"]) == (None, "stopped")
    assert await documents(place.backend.serving()) == await folded(place)


async def test_a_standby_process_takes_over_within_seconds_when_the_holder_is_killed(
    place: Place,
) -> None:
    await preload(place.events, 500)
    async with workers() as started:
        first = await Worker.start("serve", *place.arguments, "first")
        started.append(first)
        await holder_becomes(place, "first")
        second = await Worker.start("serve", *place.arguments, "second")
        started.append(second)
        arriving = asyncio.ensure_future(append_events(place.events, 400, pause=0.002))
        await asyncio.sleep(0.3)
        await first.kill()  # mid-stream: events keep arriving
        takeover = await holder_becomes(place, "second")
        assert takeover < 5.0, f"took {takeover:.1f} s with 1 s leases"
        await arriving
        await caught_up(place)
        final = await second.stop()
        assert final["error"] is None
    assert await documents(place.backend.serving()) == await folded(place)
