"""``forze_app``: a FastAPI application over a running runtime, in one call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI

from forze.contracts import IdempotencyStore, ReadModelSpec
from forze.execution import Runtime, Usecase
from forze_fastapi.commands import commands_router
from forze_fastapi.correlation import CorrelationIdMiddleware
from forze_fastapi.errors import install_error_handlers
from forze_fastapi.events import events_router
from forze_fastapi.read_models import read_models_router

__all__ = ["forze_app", "install_forze"]


def install_forze(app: FastAPI) -> None:
    """What every forze route needs on ``app``: the correlation id middleware and the error
    mapping (see :func:`~forze_fastapi.install_error_handlers`)."""
    app.add_middleware(CorrelationIdMiddleware)
    install_error_handlers(app)


def forze_app(
    runtime: Runtime,
    *,
    commands: Sequence[Usecase[Any, Any]] = (),
    read_models: Sequence[ReadModelSpec[Any]] = (),
    idempotency: IdempotencyStore | None = None,
    title: str = "forze",
    heartbeat: float = 15.0,
) -> FastAPI:
    """An application serving the ``commands`` (see :func:`commands_router`, with
    ``idempotency`` for ``Idempotency-Key``), ``runtime``'s streams, feed and live feed (see
    :func:`events_router`) and the ``read_models`` (see :func:`read_models_router`), with
    :func:`install_forze` applied. The runtime must be running while the application serves;
    add your own routes to the returned application as usual."""
    app = FastAPI(title=title)
    install_forze(app)
    if commands:
        app.include_router(commands_router(runtime, commands, idempotency=idempotency))
    app.include_router(events_router(runtime, heartbeat=heartbeat))
    if read_models:
        app.include_router(read_models_router(runtime, read_models))
    return app
