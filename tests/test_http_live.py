"""The live feed at scale, against a real server: a thousand clients of one process each
receive every event (one subscription feeds them all), and a client that stops reading is
cut off instead of growing the server's memory, then resumes from Last-Event-ID with
nothing lost or repeated."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from forze import EVENT_STORE, NewEvent, Runtime, build_runtime
from forze.contracts import EventStore
from forze_fastapi import events_router, install_forze
from forze_projections import sqlite_module
from tests.http_support import SSEReader, serving

CLIENTS = 1000


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    async with build_runtime(sqlite_module(tmp_path / "app.db", synchronous="NORMAL")) as running:
        yield running


def _app(runtime: Runtime, buffer: int) -> object:
    from fastapi import FastAPI

    app = FastAPI()
    install_forze(app)
    app.include_router(events_router(runtime, heartbeat=1.0, buffer=buffer))
    return app


async def test_a_thousand_clients_of_one_process_each_receive_every_event(
    runtime: Runtime,
) -> None:
    store: EventStore = runtime.port(EVENT_STORE)
    for n in range(5):
        await store.append(f"order-{n}", [NewEvent("Placed", {"n": n})])
    limits = httpx.Limits(max_connections=CLIENTS + 10, max_keepalive_connections=0)
    async with (
        serving(_app(runtime, buffer=256)) as url,  # type: ignore[arg-type]
        httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http,
    ):
        history_seen = 0
        all_connected = asyncio.Event()

        async def client() -> list[int]:
            nonlocal history_seen
            async with http.stream("GET", "/feed/live") as live:
                reader = SSEReader(live)
                first = await reader.take(5, seconds=60)
                history_seen += 1
                if history_seen == CLIENTS:
                    all_connected.set()
                rest = await reader.take(20, seconds=60)
            return [int(i or 0) for i, _ in first + rest]

        readers = [asyncio.ensure_future(client()) for _ in range(CLIENTS)]
        await asyncio.wait_for(all_connected.wait(), 90)
        for n in range(20):
            await store.append(f"order-{n % 3}", [NewEvent("Shipped", {"n": n})])
        received = await asyncio.wait_for(asyncio.gather(*readers), 90)
    positions = [e.position for e in await store.read_all()]
    assert len(received) == CLIENTS
    assert all(seen == positions for seen in received)


async def test_a_client_that_stops_reading_is_cut_off_and_resumes_with_nothing_lost(
    runtime: Runtime,
) -> None:
    store: EventStore = runtime.port(EVENT_STORE)
    blob = "x" * 20_000
    async with (
        serving(_app(runtime, buffer=8)) as url,  # type: ignore[arg-type]
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        got: list[int] = []
        async with http.stream("GET", "/feed/live") as live:
            reader = SSEReader(live)
            for n in range(600):  # about 12 MB: more than the sockets hold
                await store.append("log-1", [NewEvent("Logged", {"n": n, "blob": blob})])
            await asyncio.sleep(0.5)  # the server is stuck writing to this client meanwhile
            while batch := await reader.take(1, seconds=10):  # [] once the server ends it
                got += [int(event_id or 0) for event_id, _ in batch]
        total = await store.count_events()
        assert len(got) < total, "a client this far behind must be cut off"
        headers = {"Last-Event-ID": str(got[-1])} if got else {}  # as EventSource does
        async with http.stream("GET", "/feed/live", headers=headers) as resumed:
            rest = await SSEReader(resumed).take(total - len(got), seconds=30)
        got += [int(i or 0) for i, _ in rest]
    assert got == [e.position for e in await store.read_all()]
