"""The bank over HTTP: its commands, balances and event feed on FastAPI, and the console.

    python -m forze_examples.bank_http DATABASE [PORT]

serves the bank on 127.0.0.1 (port 8000 by default), its events in the SQLite file
DATABASE, with the balances and catalog projections following the feed; ``forze serve`` does
the same on any store.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from forze import DepsModule, Runtime, build_runtime, retry_on_conflict
from forze.domain.errors import InvalidInputError
from forze_examples.bank import (
    ACCOUNTS,
    BALANCES,
    DEPOSIT,
    OPEN_ACCOUNT,
    PROJECTIONS,
    TRANSFER,
    WITHDRAW,
)
from forze_fastapi import console_router, forze_app
from forze_mock import InMemoryIdempotencyStore
from forze_projections import EVENT_LINKS, STREAMS, Projection, catalog_projection, sqlite_module

__all__ = ["COMMANDS", "SERVED_PROJECTIONS", "bank_app", "serve", "serve_module"]

COMMANDS = (OPEN_ACCOUNT, DEPOSIT, WITHDRAW, TRANSFER)
"""The usecases the bank answers over HTTP."""

SERVED_PROJECTIONS: tuple[Projection, ...] = (*PROJECTIONS, catalog_projection([ACCOUNTS]))
"""The bank's projections and the catalog the console lists streams and links from."""


def bank_app(runtime: Runtime, *, console: bool = True) -> FastAPI:
    """The bank's HTTP application over a running ``runtime`` (Idempotency-Key kept in
    memory: a service with several processes would use ``forze_redis``'s store), with the
    console under ``/console`` (``/`` leads there) when ``console``: the runtime must then
    run :data:`SERVED_PROJECTIONS`."""
    app = forze_app(
        runtime,
        commands=COMMANDS,
        read_models=[BALANCES, STREAMS, EVENT_LINKS] if console else [BALANCES],
        idempotency=InMemoryIdempotencyStore(),
        title="forze bank",
    )
    if console:
        app.include_router(console_router(runtime, title="forze bank console"))

        @app.get("/", include_in_schema=False)
        async def home() -> RedirectResponse:
            return RedirectResponse("/console/", status_code=307)

    return app


async def serve_module(
    module: DepsModule, *, port: int = 8000, host: str = "127.0.0.1", ready: str = ""
) -> None:
    """Serve the bank and its console on ``module``'s stores until interrupted (the module
    must run :data:`SERVED_PROJECTIONS`); prints ``ready`` and the console's address once
    listening. A port that cannot be bound is ``InvalidInputError``, before the stores open."""
    listening = _listen(host, port)
    with listening:
        async with build_runtime(
            module, usecases=COMMANDS, middleware=[retry_on_conflict()]
        ) as runtime:
            config = uvicorn.Config(bank_app(runtime), log_level="warning")
            if ready:
                print(f"{ready} http://{host}:{port}/console/", flush=True)
            await uvicorn.Server(config).serve(sockets=[listening])


def _listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port``: connections queue up while the runtime starts."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listening = socket.socket(family, socket.SOCK_STREAM)
    except OSError as error:
        raise InvalidInputError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
        listening.listen(2048)
    except OSError as error:
        listening.close()
        reason = error.strerror or str(error)
        raise InvalidInputError(f"cannot listen on {host}:{port}: {reason}") from None
    return listening


async def serve(database: Path, port: int = 8000, host: str = "127.0.0.1") -> None:
    """Serve the bank and its console on the SQLite file ``database`` until interrupted."""
    await serve_module(
        sqlite_module(database, projections=SERVED_PROJECTIONS), port=port, host=host
    )


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 8000))
