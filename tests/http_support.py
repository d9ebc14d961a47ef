"""A real HTTP server for the HTTP tests: uvicorn on a free port of 127.0.0.1, in the test's
event loop, and a way to read Server-Sent Events from it."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """``app`` under uvicorn until the block ends; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        server.force_exit = True
        await asyncio.wait_for(task, 10)


class SSEReader:
    """Reads a streaming Server-Sent Events response event by event: ``(id, data)``, with
    comments and ``retry`` lines kept in :attr:`comments` (one line iterator per response)."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()
        self.comments: list[str] = []

    async def take(self, count: int, *, seconds: float = 10.0) -> list[tuple[str | None, Any]]:
        """The next ``count`` events (fewer when the server ends the stream first); fails if
        they do not arrive within ``seconds``."""
        found: list[tuple[str | None, Any]] = []

        async def read() -> None:
            event_id: str | None = None
            data: list[str] = []
            async for line in self._lines:
                if line == "":
                    if data:
                        found.append((event_id, json.loads("\n".join(data))))
                        if len(found) == count:
                            return
                    event_id, data = None, []
                elif line.startswith("id: "):
                    event_id = line[4:]
                elif line.startswith("data: "):
                    data.append(line[6:])
                elif line.startswith(":"):
                    self.comments.append(line)

        await asyncio.wait_for(read(), seconds)
        return found

    async def comment(self, *, seconds: float = 10.0) -> str:
        """The next comment line (a heartbeat)."""

        async def read() -> str:
            async for line in self._lines:
                if line.startswith(":"):
                    return line
            raise AssertionError("the stream ended")

        return await asyncio.wait_for(read(), seconds)
