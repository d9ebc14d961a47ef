"""Rooms per read-model document, as a service deploys them: ``forze serve`` runs the bank's
projections and takes commands in its own process; this process serves Socket.IO under
uvicorn on the same SQLite file, without running any projection, and real ``AsyncClient``s
follow account balances."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
import uvicorn

from forze import EVENT_STORE, RecordedEvent, build_runtime
from forze.domain.errors import InvalidInputError, WiringError
from forze.execution import CHECKPOINTS, READ_MODELS
from forze_examples.bank import BALANCES, BALANCES_PROJECTION
from forze_projections import Projection, sqlite_module
from forze_socketio import DocumentRoom, SocketFeed
from tests.console_support import caught_up_async
from tests.http_support import free_port, served_process

pytestmark = pytest.mark.timeout(180)


def account_of(event: RecordedEvent) -> str | None:
    category, _, key = event.stream_id.partition("-")
    return key if category == "account" else None


ROOM = DocumentRoom(BALANCES, BALANCES_PROJECTION, account_of)


class Watcher:
    """A Socket.IO client collecting the documents it is sent."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = socketio.AsyncClient(reconnection=False)
        self.documents: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        self.client.on("document", self._got)

    def _got(self, document: dict[str, Any]) -> None:
        self.documents.append(document)
        self._arrived.set()

    async def connect(self) -> None:
        await self.client.connect(self.url, transports=["websocket"], wait_timeout=10)

    async def follow(self, room: str) -> Any:
        return await self.client.call("follow", {"room": room}, timeout=15)

    async def until(self, check: Any, seconds: float = 30.0) -> list[dict[str, Any]]:
        """Wait until ``check(documents)`` holds."""

        async def wait() -> None:
            while not check(self.documents):
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(wait(), seconds)
        return self.documents


@pytest.fixture
async def deployed(tmp_path: Path) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    """The Socket.IO URL, and an HTTP client of the ``forze serve`` process on the same file."""
    database = tmp_path / "bank.sqlite"
    argv = ["-m", "forze_cli._main", "serve", "--db", str(database), "--port", str(free_port())]
    with served_process(argv) as api:
        module = sqlite_module(database, run_projectors=False)
        async with build_runtime(module) as runtime, httpx.AsyncClient(base_url=api) as http:
            sio = socketio.AsyncServer(async_mode="asgi")
            feed = SocketFeed(
                sio,
                runtime.port(EVENT_STORE),
                documents=(ROOM,),
                read_models=runtime.port(READ_MODELS),
                checkpoints=runtime.port(CHECKPOINTS),
            )
            port = free_port()
            config = uvicorn.Config(
                socketio.ASGIApp(sio), host="127.0.0.1", port=port, log_level="warning"
            )
            server = uvicorn.Server(config)
            task = asyncio.create_task(server.serve())
            while not server.started:
                assert not task.done(), "uvicorn did not start"
                await asyncio.sleep(0.01)
            await feed.start()
            try:
                yield f"http://127.0.0.1:{port}", http
            finally:
                await feed.close()
                server.should_exit = True
                await asyncio.wait_for(task, 10)


async def command(http: httpx.AsyncClient, name: str, **body: Any) -> None:
    response = await http.post(f"/commands/{name}", json=body)
    assert response.status_code == 200, response.text


async def test_a_follower_gets_the_document_now_then_each_state_another_process_projects(
    deployed: tuple[str, httpx.AsyncClient],
) -> None:
    url, http = deployed
    watcher = Watcher(url)
    await watcher.connect()
    assert await watcher.follow("document:account_balances:d1") == {"ok": True}
    assert watcher.documents[0]["document"] is None
    assert watcher.documents[0]["key"] == "d1"
    await command(http, "open_account", account_id="d1", owner="dora")
    for amount in (10, 5, 20):
        await command(http, "deposit", account_id="d1", amount=amount)
    got = await watcher.until(
        lambda docs: bool(docs[-1]["document"]) and docs[-1]["document"]["balance"] == 35
    )
    positions = [d["position"] for d in got]
    assert positions == sorted(positions)
    assert {d["read_model"] for d in got} == {"account_balances"}
    assert got[-1]["document"] == {
        "account_id": "d1",
        "owner": "dora",
        "balance": 35,
        "transactions": 3,
        "version": 4,
    }
    await watcher.client.disconnect()


async def test_a_late_follower_starts_from_the_current_state_and_others_see_only_theirs(
    deployed: tuple[str, httpx.AsyncClient],
) -> None:
    url, http = deployed
    await command(http, "open_account", account_id="e1", owner="eli")
    await command(http, "deposit", account_id="e1", amount=7)
    await caught_up_async(http)
    late, other = Watcher(url), Watcher(url)
    await late.connect()
    await other.connect()
    assert await late.follow("document:account_balances:e1") == {"ok": True}
    assert late.documents[0]["document"]["balance"] == 7
    assert await other.follow("document:account_balances:e2") == {"ok": True}
    await command(http, "deposit", account_id="e1", amount=1)
    await late.until(lambda docs: docs[-1]["document"]["balance"] == 8)
    await asyncio.sleep(0.3)
    assert [d["document"] for d in other.documents] == [None]
    await late.client.call("unfollow", {"room": "document:account_balances:e1"}, timeout=10)
    before = len(late.documents)
    await command(http, "deposit", account_id="e1", amount=1)
    await caught_up_async(http)
    await asyncio.sleep(0.3)
    assert len(late.documents) == before
    await late.client.disconnect()
    await other.client.disconnect()


async def test_a_document_room_that_names_no_read_model_or_key_is_refused(
    deployed: tuple[str, httpx.AsyncClient],
) -> None:
    url, _ = deployed
    watcher = Watcher(url)
    await watcher.connect()
    unknown = await watcher.follow("document:nothing:x")
    assert unknown == {
        "error": "no document rooms for read model 'nothing' (known: account_balances)"
    }
    assert "names nothing" in (await watcher.follow("document:account_balances:"))["error"]
    assert watcher.documents == []
    await watcher.client.disconnect()


def test_document_rooms_are_checked_when_wired() -> None:
    with pytest.raises(InvalidInputError, match="does not write"):
        DocumentRoom(BALANCES, Projection("other", 1, {"X": _nothing}), account_of)
    sio = socketio.AsyncServer(async_mode="asgi")
    with pytest.raises(WiringError, match="read_models and checkpoints"):
        SocketFeed(sio, object(), documents=(ROOM,))  # type: ignore[arg-type]


async def _nothing(_event: RecordedEvent, _read_models: Any) -> None:
    return None
