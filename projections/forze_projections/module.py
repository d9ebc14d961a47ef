"""Wiring a projection backend, and the projectors that fill it, into a runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from forze.contracts import EventStore, Telemetry
from forze.domain.errors import WiringError
from forze.execution import (
    CHECKPOINTS,
    EVENT_STORE,
    READ_MODELS,
    TELEMETRY,
    DepsModule,
    Resolver,
)
from forze_projections.backend import ProjectionBackend
from forze_projections.keys import PROJECTION_BACKEND, PROJECTOR
from forze_projections.projection import Projection
from forze_projections.projector import STOP_ON_ERROR, Projector
from forze_projections.status import FailurePolicy

__all__ = ["InlineAdder", "ProjectorOptions", "projection_module", "provide_projector"]

InlineAdder = Callable[[EventStore, ProjectionBackend, Projection], Awaitable[None]]
"""Registers one inline projection on a store and backend of one database (what
``add_inline_projection`` and ``forze_postgres.add_postgres_inline_projection`` do)."""


@dataclass(frozen=True, slots=True)
class ProjectorOptions:
    """How a backend module's ``PROJECTOR`` runs (the ``Projector`` arguments of the same
    names): events per batch, the failure policy, documents cached per read model, and the
    lease that keeps each projection to one process at a time (a dead holder's standby takes
    over after ``lease_seconds``); ``owner`` names this process in leases (host and pid when
    ``None``)."""

    batch_size: int = 500
    policy: FailurePolicy = STOP_ON_ERROR
    cache_size: int = 100_000
    lease_seconds: float = 5.0
    owner: str | None = None


def projection_module(
    backend: ProjectionBackend,
    *,
    projections: Sequence[Projection] = (),
    options: ProjectorOptions | None = None,
    run: bool = True,
    name: str = "projections",
) -> DepsModule:
    """Provide ``backend``, its checkpoints, its live read models for ``ctx.read_models``
    and, with ``projections``, a ``PROJECTOR`` over the runtime's event store (see
    :func:`provide_projector`)."""
    module = DepsModule(name)
    module.provide(PROJECTION_BACKEND, backend)
    module.provide(READ_MODELS, backend.serving())
    module.provide(CHECKPOINTS, backend.checkpoints)
    if projections:
        provide_projector(module, projections, options=options, run=run)
    return module


def provide_projector(
    module: DepsModule,
    projections: Sequence[Projection] = (),
    *,
    inline: Sequence[Projection] = (),
    add_inline: InlineAdder | None = None,
    options: ProjectorOptions | None = None,
    run: bool = True,
) -> None:
    """Add to ``module`` the ``PROJECTOR`` resource over its ``EVENT_STORE`` and
    ``PROJECTION_BACKEND``, opened when the runtime starts and stopped before the store closes.

    The ``inline`` projections are registered first with ``add_inline`` (caught up, then run
    inside every append's transaction). With ``run`` the projector follows the feed in the
    background for the runtime's lifetime: each projection runs in one process at a time
    (the others stand by, see ``Projector``), and a failed projection stops alone, visible in
    ``runtime.port(PROJECTOR).status()``. Without ``run`` it is only built, for a process
    that serves requests while another runs the projections (or for ``catch_up()`` in tests).
    The projector reports to the runtime's ``TELEMETRY``, if a module provides one.
    """
    if inline and add_inline is None:
        raise WiringError("inline projections need the store's add_inline to register them")
    names = [p.name for p in (*projections, *inline)]
    if len(set(names)) != len(names):
        raise WiringError(f"a projection is named twice among {names}: one name, one projection")

    @asynccontextmanager
    async def open_projector(resolve: Resolver) -> AsyncIterator[Projector]:
        store, backend = resolve(EVENT_STORE), resolve(PROJECTION_BACKEND)
        for projection in inline:
            assert add_inline is not None  # checked above
            await add_inline(store, backend, projection)
        settings = options or ProjectorOptions()
        projector = Projector(
            store,
            backend,
            projections,
            batch_size=settings.batch_size,
            policy=settings.policy,
            cache_size=settings.cache_size,
            lease_seconds=settings.lease_seconds,
            owner=settings.owner,
            telemetry=_optional_telemetry(resolve),
        )
        if not run or not projections:
            yield projector
            return
        async with projector:
            yield projector

    module.provide_resource(PROJECTOR, open_projector)


def _optional_telemetry(resolve: Resolver) -> Telemetry | None:
    """The runtime's ``TELEMETRY``, or ``None`` when no module provides it."""
    try:
        return resolve(TELEMETRY)
    except WiringError:
        return None
