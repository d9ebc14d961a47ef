"""HTTP throughput: forze_fastapi's routes beside bare FastAPI endpoints doing the same store
calls, in one run, on one server. (Not ``http.py``: that name would hide the standard
library's ``http`` from every script of this folder.)

Run ``.venv/bin/python benchmarks/http_api.py [--events N] [--clients C] [--json]``. One uvicorn
server on a free port of 127.0.0.1 serves both implementations over the same runtime (the
bank example on a SQLite file, ``synchronous=NORMAL``); the load comes from httpx in the same
process, so both pay the same client cost. The baseline of each ratio is ``bare``.

* ``commands``: ``--events`` deposits (requests/s), 16 at a time, each to its own account.
  forze: ``POST /commands/deposit`` (body validation, correlation id, ETag); bare: a
  FastAPI endpoint taking the same ``Deposit`` and calling ``runtime.execute`` itself.
* ``sse-fanout``: ``--clients`` clients follow the live feed while 200 events are appended;
  the figure is events delivered per second, counted over every client. forze:
  ``GET /feed/live`` (one subscription shared by every client); bare: an endpoint streaming
  ``store.subscribe()`` (one subscription per client) as ``data:`` lines.
"""

from __future__ import annotations

import asyncio
import json
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from forze import EVENT_STORE, NewEvent, Runtime, build_runtime
from forze_examples.bank import DEPOSIT, OPEN_ACCOUNT, Deposit, OpenAccount
from forze_fastapi import commands_router, events_router, install_forze
from forze_projections import sqlite_module

if TYPE_CHECKING:  # mypy names the file by its path; at run time benchmarks/ is sys.path[0]
    from benchmarks._harness import Results, Stopwatch, base_parser, progress
else:
    from _harness import Results, Stopwatch, base_parser, progress

CONCURRENCY = 16
FANOUT_EVENTS = 200


def app_of(runtime: Runtime) -> FastAPI:
    """forze's routes and the bare endpoints, side by side."""
    app = FastAPI()
    install_forze(app)
    app.include_router(commands_router(runtime, [DEPOSIT]))
    app.include_router(events_router(runtime))

    @app.post("/bare/deposit")
    async def bare_deposit(command: Deposit) -> dict[str, Any]:
        return {"result": await runtime.execute(DEPOSIT, command)}

    @app.get("/bare/live")
    async def bare_live() -> StreamingResponse:
        store = runtime.port(EVENT_STORE)

        async def lines() -> AsyncIterator[str]:
            async for event in store.subscribe(after=await store.head_position()):
                body = {"position": event.position, "data": event.data}
                yield f"id: {event.position}\ndata: {json.dumps(body)}\n\n"

        return StreamingResponse(lines(), media_type="text/event-stream")

    return app


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def commands(http: httpx.AsyncClient, runtime: Runtime, path: str, count: int) -> float:
    """Seconds for ``count`` deposits through ``path``, ``CONCURRENCY`` at a time."""
    tag = uuid.uuid4().hex[:6]
    accounts = [f"{tag}-{n}" for n in range(count)]
    for account in accounts:
        await runtime.execute(OPEN_ACCOUNT, OpenAccount(account_id=account, owner="o"))
    queue = list(accounts)

    async def worker() -> None:
        while queue:
            account = queue.pop()
            answer = await http.post(path, json={"account_id": account, "amount": 1})
            assert answer.status_code == 200, answer.text

    with Stopwatch() as clock:
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return clock.seconds


async def fanout(http: httpx.AsyncClient, runtime: Runtime, path: str, clients: int) -> float:
    """Seconds from the first append until every client got ``FANOUT_EVENTS`` events."""
    store = runtime.port(EVENT_STORE)
    after = await store.head_position()
    ready = asyncio.Semaphore(0)

    async def client() -> None:
        async with http.stream("GET", path, params={"after": after}) as live:
            ready.release()
            got = 0
            async for line in live.aiter_lines():
                if line.startswith("data: "):
                    got += 1
                    if got == FANOUT_EVENTS:
                        return

    tasks = [asyncio.ensure_future(client()) for _ in range(clients)]
    for _ in range(clients):
        await ready.acquire()
    await asyncio.sleep(0.2)  # every response has started streaming
    with Stopwatch() as clock:
        for n in range(FANOUT_EVENTS):
            await store.append(f"fan-{n % 7}", [NewEvent("Pinged", {"n": n})])
        await asyncio.gather(*tasks)
    return clock.seconds


async def run(events: int, clients: int, results: Results) -> None:
    """Both scenarios, each implementation after a warm-up, bare first."""
    folder = Path(tempfile.mkdtemp())
    module = sqlite_module(folder / "bank.db", synchronous="NORMAL")
    async with build_runtime(module, usecases=(OPEN_ACCOUNT, DEPOSIT)) as runtime:
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app_of(runtime), host="127.0.0.1", port=port, log_level="warning")
        )
        serving = asyncio.create_task(server.serve())
        for _ in range(1000):
            if server.started:
                break
            await asyncio.sleep(0.01)
        limits = httpx.Limits(max_connections=clients + CONCURRENCY + 10)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=120, limits=limits
        ) as http:
            for name, path in (("bare", "/bare/deposit"), ("forze", "/commands/deposit")):
                progress(f"commands: {name}")
                await commands(http, runtime, path, max(50, events // 10))
                results.add("commands", name, events, await commands(http, runtime, path, events))
            for name, path in (("bare", "/bare/live"), ("forze", "/feed/live")):
                progress(f"sse-fanout: {name}")
                await fanout(http, runtime, path, max(1, clients // 10))
                seconds = await fanout(http, runtime, path, clients)
                results.add("sse-fanout", name, clients * FANOUT_EVENTS, seconds)
        server.should_exit = True
        await serving


def main(argv: list[str] | None = None) -> int:
    """Run both scenarios and print the table."""
    parser = base_parser(__doc__ or "", default_events=2000)
    parser.add_argument("--clients", type=int, default=200, help="SSE clients (default 200)")
    options = parser.parse_args(argv)
    results = Results()
    asyncio.run(run(options.events, options.clients, results))
    results.note(
        f"commands: {CONCURRENCY} at a time; sse-fanout: {options.clients} clients,"
        f" {FANOUT_EVENTS} events each (rate = events delivered over all clients)"
    )
    results.print("bare", as_json=options.json, implementation_order=("bare", "forze"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
