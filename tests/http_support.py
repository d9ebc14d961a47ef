"""A real HTTP server for the HTTP tests: uvicorn on a free port of 127.0.0.1, in the test's
event loop, and a way to read Server-Sent Events from it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
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


ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def served_process(arguments: Sequence[str], *, seconds: float = 90.0) -> Iterator[str]:
    """``python ARGUMENTS`` in its own process (the project's root as its directory), until the
    block ends; yields the URL it prints after ``forze: serving`` once it listens. The
    process is interrupted (as Ctrl-C does) at the end and must exit within 15 s."""
    process = subprocess.Popen(
        [sys.executable, *arguments],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    found: list[str] = []
    printed: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            printed.append(line)
            if line.startswith("forze: serving ") and not ready.is_set():
                found.append(line.split()[-1].removesuffix("/console/"))
                ready.set()
        ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(seconds), f"the server did not start: {''.join(printed)}"
        assert found, f"the server exited: {''.join(printed)}"
        yield found[0]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError("the server did not stop within 15 s of SIGINT") from None
        finally:
            reader.join(5)
            process.stdout.close()


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
