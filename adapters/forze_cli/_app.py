"""``--app package.module:make_runtime``: operate the store of an application's own runtime.

``make_runtime`` is a callable taking no arguments that returns the application's
``Runtime`` (what ``build_runtime(...)`` returns, not yet started) or any async context
manager yielding one. The command starts it as the application does (its modules open and
migrate their stores, and run their projectors if they are built to), uses its event store,
projection backend, projections and event types, and stops it at the end. Leases keep one
runner per projection across processes, so a command started beside the running service
never runs a projection twice.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

from forze import Runtime
from forze.domain.errors import InvalidInputError, WiringError
from forze.execution import AGGREGATES, EVENT_STORE, PortKey
from forze_cli._references import load_reference
from forze_cli._stores import Inspectable, OpenStore, StoreTarget
from forze_eventstore import EventCodec, EventSourcedRepositories
from forze_projections import (
    PROJECTION_BACKEND,
    PROJECTOR,
    InMemoryProjectionBackend,
    ProjectionBackend,
    Projector,
)

__all__ = ["load_factory", "open_app"]

T = TypeVar("T")


def load_factory(reference: str) -> Callable[[], Any]:
    """Import ``package.module:NAME`` naming a callable (the runtime factory)."""
    found = load_reference(reference, "--app", "make_runtime")
    if not callable(found):
        raise InvalidInputError(f"--app {reference!r} is not callable (a runtime factory)")
    try:
        signature = inspect.signature(found)
    except ValueError:  # no signature to inspect (a builtin): calling it will tell
        return found
    try:
        signature.bind()
    except TypeError:
        raise InvalidInputError(
            f"--app {reference!r} takes arguments: a runtime factory is called with none"
        ) from None
    return found


def _optional(runtime: Runtime, key: PortKey[T]) -> T | None:
    try:
        return runtime.port(key)
    except WiringError:
        return None


@asynccontextmanager
async def open_app(target: StoreTarget) -> AsyncIterator[OpenStore]:
    """Start the application's runtime that ``target.app`` names and open its store."""
    assert target.app is not None  # open_store sends only application targets here
    made = load_factory(target.app)()
    if not isinstance(made, AbstractAsyncContextManager):
        raise InvalidInputError(
            f"--app {target.app!r} returned {type(made).__name__}, not a Runtime (the result"
            " of build_runtime) or an async context manager yielding one"
        )
    async with made as runtime:
        if not isinstance(runtime, Runtime):
            raise InvalidInputError(
                f"--app {target.app!r} yielded {type(runtime).__name__}, not a Runtime"
            )
        events = _optional(runtime, EVENT_STORE)
        if not isinstance(events, Inspectable):
            raise InvalidInputError(
                f"the runtime of {target.app!r} provides no event store the command line can"
                " read (SQLite, PostgreSQL or MongoDB)"
            )
        backend: ProjectionBackend = (
            _optional(runtime, PROJECTION_BACKEND) or InMemoryProjectionBackend()
        )
        projector = _optional(runtime, PROJECTOR) or Projector(events, backend, ())
        yield OpenStore(target, events, backend, projector=projector, codec=_codec(runtime))


def _codec(runtime: Runtime) -> EventCodec | None:
    """The codec the application's repositories use: the one given to its store module,
    else one for every aggregate spec its usecases declare."""
    repositories = _optional(runtime, AGGREGATES)
    if isinstance(repositories, EventSourcedRepositories) and repositories.codec is not None:
        return repositories.codec
    specs = runtime.aggregate_specs
    return EventCodec.for_specs(*specs) if specs else None
