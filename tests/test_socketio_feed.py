"""forze_socketio against a real server (python-socketio's AsyncServer under uvicorn on a free
port) and real AsyncClients: rooms per stream and category, a client that follows from its
last position catches up before it goes live, each event once and in order, even while
events keep arriving, and an authorisation hook decides who follows what."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio
import uvicorn

from forze import NewEvent
from forze_eventstore import InMemoryEventStore
from forze_socketio import SocketFeed
from tests.http_support import free_port


class Follower:
    """A Socket.IO client collecting the events it is sent."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        self.client.on("event", self._got)

    def _got(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self._arrived.set()

    async def connect(self, auth: Any = None) -> None:
        await self.client.connect(self.url, transports=["websocket"], auth=auth, wait_timeout=10)

    async def follow(self, room: str, after: int = 0) -> Any:
        return await self.client.call("follow", {"room": room, "after": after}, timeout=10)

    async def until(self, count: int, seconds: float = 10.0) -> list[dict[str, Any]]:
        async def wait() -> None:
            while len(self.events) < count:
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(wait(), seconds)
        return self.events


async def _allow(sid: str, room: str, auth: Any) -> bool:
    return room != "category:secret" or (isinstance(auth, dict) and auth.get("token") == "ok")


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, InMemoryEventStore]]:
    store = InMemoryEventStore(poll_interval=0.05)
    sio = socketio.AsyncServer(async_mode="asgi")
    feed = SocketFeed(sio, store, authorize=_allow)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(socketio.ASGIApp(sio), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    await feed.start()
    try:
        yield f"http://127.0.0.1:{port}", store
    finally:
        await feed.close()
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def test_a_follower_catches_up_then_gets_live_events_of_its_stream_only(
    served: tuple[str, InMemoryEventStore],
) -> None:
    url, store = served
    await store.append("order-1", [NewEvent("Placed", {"n": 1})])
    await store.append("order-2", [NewEvent("Placed", {"n": 2})])
    follower = Follower(url)
    await follower.connect()
    assert await follower.follow("stream:order-1") == {"ok": True}
    await store.append("order-1", [NewEvent("Paid", {"n": 3})])
    await store.append("order-2", [NewEvent("Paid", {"n": 4})])
    got = await follower.until(2)
    await asyncio.sleep(0.2)
    assert [(e["stream_id"], e["data"]["n"]) for e in follower.events] == [
        ("order-1", 1),
        ("order-1", 3),
    ]
    assert got[0]["position"] < got[1]["position"]
    await follower.client.disconnect()


async def test_a_follower_that_reconnects_with_its_last_position_misses_nothing(
    served: tuple[str, InMemoryEventStore],
) -> None:
    url, store = served
    first = Follower(url)
    await first.connect()
    await first.follow("category:order")
    await store.append("order-1", [NewEvent("Placed", {"n": 1})])
    (seen,) = await first.until(1)
    await first.client.disconnect()
    for n in (2, 3):
        await store.append(f"order-{n}", [NewEvent("Placed", {"n": n})])
    again = Follower(url)
    await again.connect()
    await again.follow("category:order", after=seen["position"])
    await store.append("order-4", [NewEvent("Placed", {"n": 4})])
    await again.until(3)
    assert [e["data"]["n"] for e in again.events] == [2, 3, 4]
    await again.client.disconnect()


async def test_events_arriving_while_a_follower_catches_up_reach_it_once_in_order(
    served: tuple[str, InMemoryEventStore],
) -> None:
    url, store = served
    for n in range(300):
        await store.append(f"item-{n % 5}", [NewEvent("Counted", {"n": n})])

    async def keep_appending() -> None:
        for n in range(300, 600):
            await store.append(f"item-{n % 5}", [NewEvent("Counted", {"n": n})])
            await asyncio.sleep(0)

    follower = Follower(url)
    await follower.connect()
    writer = asyncio.ensure_future(keep_appending())
    assert await follower.follow("category:item") == {"ok": True}
    await writer
    await follower.until(600, seconds=30)
    await asyncio.sleep(0.2)
    assert [e["data"]["n"] for e in follower.events] == list(range(600))
    await follower.client.disconnect()


async def test_the_authorisation_hook_decides_who_follows_what(
    served: tuple[str, InMemoryEventStore],
) -> None:
    url, store = served
    await store.append("secret-1", [NewEvent("Hidden", {})])
    stranger, insider = Follower(url), Follower(url)
    await stranger.connect()
    await insider.connect(auth={"token": "ok"})
    refused = await stranger.follow("category:secret")
    assert "not allowed" in refused["error"]
    assert await insider.follow("category:secret") == {"ok": True}
    await insider.until(1)
    bad = await stranger.follow("everything")
    assert "a room is" in bad["error"]
    await asyncio.sleep(0.2)
    assert stranger.events == []
    for client in (stranger, insider):
        await client.client.disconnect()
