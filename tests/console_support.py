"""Helpers of the console tests: waiting for a served process's projections, and writing to
its SQLite file from the test's process."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from forze import NewEvent
from forze_eventstore import SQLiteEventStore


def _settled(statuses: list[dict[str, Any]]) -> bool:
    assert not [s for s in statuses if s["state"] == "failed"], statuses
    return bool(statuses) and all(s["state"] == "live" and s["lag_events"] == 0 for s in statuses)


def caught_up(http: httpx.Client, *, seconds: float = 60.0) -> list[dict[str, Any]]:
    """Wait until every projection of the served process is live at the head."""
    deadline = time.monotonic() + seconds
    while True:
        statuses: list[dict[str, Any]] = http.get("/console/api/projections").json()
        if _settled(statuses):
            return statuses
        assert time.monotonic() < deadline, f"the projections did not catch up: {statuses}"
        time.sleep(0.05)


async def caught_up_async(http: httpx.AsyncClient, *, seconds: float = 60.0) -> None:
    """:func:`caught_up` for a test that runs in an event loop."""
    deadline = time.monotonic() + seconds
    while True:
        statuses: list[dict[str, Any]] = (await http.get("/console/api/projections")).json()
        if _settled(statuses):
            return
        assert time.monotonic() < deadline, f"the projections did not catch up: {statuses}"
        await asyncio.sleep(0.05)


async def open_account(database: Path, stream_id: str, owner: str, **metadata: str) -> str:
    """Append an ``AccountOpened`` to ``stream_id`` in ``database`` from this process (another
    writer of the served file); returns the event's id."""
    data = {"owner": owner, "overdraft_limit": 0}
    event = NewEvent(event_type="AccountOpened", data=data, metadata=metadata)
    async with SQLiteEventStore(database) as store:
        await store.append(stream_id, [event], expected_version=0)
    return str(event.event_id)


def append(database: Path, stream_id: str, owner: str, **metadata: str) -> str:
    """:func:`open_account` from a test that runs no event loop."""
    return asyncio.run(open_account(database, stream_id, owner, **metadata))
