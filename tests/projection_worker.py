"""A projector process for the multi-process tests (``tests/test_projection_processes.py``).

    python -m tests.projection_worker serve|rebuild sqlite PATH OWNER
    python -m tests.projection_worker serve|rebuild postgres DSN SCHEMA OWNER
    python -m tests.projection_worker serve|rebuild mongo URL DATABASE OWNER

``serve`` runs the ``tallies`` projection (standing by while another process holds it) until
SIGTERM, then prints its status as one JSON line. ``rebuild`` asks for a rebuild, waits until
the projection's runner carried it out and reached the head, and prints the status likewise.
Both print ``ready`` once their projector exists. With ``FORZE_TEST_STALL_COMMIT`` set, a
Mongo worker stops for good in its first batch, after writing the batch's documents and
before saving its checkpoint, and prints ``mid-batch`` (the test then kills it).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from forze.contracts import EventStore
from forze_eventstore import SQLiteDatabase, SQLiteEventStore
from forze_mongo import MongoDatabase, MongoEventStore, MongoProjectionBackend
from forze_mongo.checkpoints import MongoCheckpointStore
from forze_mongo.projections import _UnitCheckpoints
from forze_postgres import PostgresDatabase, PostgresEventStore, PostgresProjectionBackend
from forze_projections import (
    ProjectionBackend,
    ProjectionStatus,
    Projector,
    SQLiteProjectionBackend,
)
from forze_projections.testing import tallies

PROJECTIONS = (tallies(),)
"""The projection every worker runs (``--projections tests.projection_worker:PROJECTIONS``)."""

LEASE_SECONDS = 1.0
"""Short, so that a standby takes over from a killed holder within the test's patience."""


@asynccontextmanager
async def opened(arguments: list[str]) -> AsyncIterator[tuple[EventStore, ProjectionBackend]]:
    """The event store and backend named by ``sqlite PATH`` or ``postgres DSN SCHEMA``."""
    if arguments[0] == "sqlite":
        db = SQLiteDatabase(Path(arguments[1]), synchronous="NORMAL")
        try:
            yield SQLiteEventStore(db, poll_interval=0.05), SQLiteProjectionBackend(db)
        finally:
            db.close()
        return
    if arguments[0] == "mongo":
        mongo = MongoDatabase.connect(arguments[1], database=arguments[2])
        events = MongoEventStore(mongo, poll_interval=0.05)
        try:
            yield events, MongoProjectionBackend(mongo)
        finally:
            await events.close()
            await mongo.close()
        return
    pg = await PostgresDatabase.connect(arguments[1], schema=arguments[2])
    try:
        store = PostgresEventStore(pg)
        try:
            yield store, PostgresProjectionBackend(pg)
        finally:
            await store.close()
    finally:
        await pg.close()


def report(status: ProjectionStatus) -> None:
    """Print ``status`` as one JSON line."""
    fields = {
        "checkpoint": status.checkpoint,
        "head": status.head,
        "lag_events": status.lag_events,
        "state": status.state.value,
        "error": status.error,
        "holder": status.holder,
    }
    print(json.dumps(fields), flush=True)


async def _stalled_save(self: MongoCheckpointStore, name: str, position: int) -> None:
    """Stand-in for the backend's checkpoint save: stop for good instead, once the batch's
    documents are written but before its checkpoint is."""
    print("mid-batch", flush=True)
    await asyncio.Event().wait()


async def main(action: str, arguments: list[str]) -> None:
    if os.environ.get("FORZE_TEST_STALL_COMMIT"):
        _UnitCheckpoints.save = _stalled_save  # type: ignore[method-assign]
    owner = arguments[-1]
    async with opened(arguments[:-1]) as (events, backend):
        projector = Projector(
            events, backend, PROJECTIONS, owner=owner, lease_seconds=LEASE_SECONDS, batch_size=50
        )
        print("ready", flush=True)
        if action == "rebuild":
            report(await projector.rebuild("tallies"))
            return
        stopped = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
        async with projector:
            await stopped.wait()
        (status,) = await projector.status()
        report(status)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2:]))
