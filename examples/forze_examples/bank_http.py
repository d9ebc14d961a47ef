"""The bank over HTTP: its commands, balances and event feed on FastAPI.

    python -m forze_examples.bank_http DATABASE [PORT]

serves the bank on 127.0.0.1 (port 8000 by default), its events in the SQLite file
DATABASE, with the balances projection following the feed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from forze import Runtime, build_runtime, retry_on_conflict
from forze_examples.bank import (
    BALANCES,
    DEPOSIT,
    OPEN_ACCOUNT,
    PROJECTIONS,
    TRANSFER,
    WITHDRAW,
)
from forze_fastapi import forze_app
from forze_mock import InMemoryIdempotencyStore
from forze_projections import sqlite_module

__all__ = ["COMMANDS", "bank_app", "serve"]

COMMANDS = (OPEN_ACCOUNT, DEPOSIT, WITHDRAW, TRANSFER)
"""The usecases the bank answers over HTTP."""


def bank_app(runtime: Runtime) -> FastAPI:
    """The bank's HTTP application over a running ``runtime`` (Idempotency-Key kept in
    memory: a service with several processes would use ``forze_redis``'s store)."""
    return forze_app(
        runtime,
        commands=COMMANDS,
        read_models=[BALANCES],
        idempotency=InMemoryIdempotencyStore(),
        title="forze bank",
    )


async def serve(database: Path, port: int = 8000, host: str = "127.0.0.1") -> None:
    """Serve the bank until interrupted."""
    module = sqlite_module(database, projections=PROJECTIONS)
    async with build_runtime(
        module, usecases=COMMANDS, middleware=[retry_on_conflict()]
    ) as runtime:
        config = uvicorn.Config(bank_app(runtime), host=host, port=port, log_level="warning")
        await uvicorn.Server(config).serve()


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 8000))
