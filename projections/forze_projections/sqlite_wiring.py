"""``sqlite_module``: one SQLite file wired into a runtime, write side and read side."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from forze.contracts import EventStore, ObjectStorage
from forze.execution import (
    AGGREGATES,
    CHECKPOINTS,
    EVENT_STORE,
    READ_MODELS,
    SNAPSHOTS,
    DepsModule,
    Resolver,
)
from forze_eventstore import (
    EventCodec,
    EventSourcedRepositories,
    SQLiteDatabase,
    SQLiteEventStore,
    SQLiteSnapshotStore,
    Synchronous,
)
from forze_eventstore.archiving import reading_archive, without_archive
from forze_projections.backend import ProjectionBackend
from forze_projections.inline import add_inline_projection
from forze_projections.keys import PROJECTION_BACKEND
from forze_projections.module import ProjectorOptions, provide_projector
from forze_projections.projection import Projection
from forze_projections.sqlite_backend import SQLiteProjectionBackend

__all__ = ["sqlite_module"]


def sqlite_module(
    path: str | Path,
    *,
    projections: Sequence[Projection] = (),
    inline: Sequence[Projection] = (),
    run_projectors: bool = True,
    projector: ProjectorOptions | None = None,
    synchronous: Synchronous = "FULL",
    codec: EventCodec | None = None,
    archive: ObjectStorage | None = None,
    name: str = "sqlite",
) -> DepsModule:
    """Everything an application keeps in the SQLite file at ``path``, for the runtime's
    lifetime: the event store, aggregate repositories, snapshots, the projection backend, its
    checkpoints and live read models (``ctx.read_models``) and, with ``projections`` or
    ``inline``, the ``PROJECTOR`` that keeps them filled::

        async with build_runtime(
            sqlite_module("app.db", projections=[BALANCES_PROJECTION]), usecases=USECASES
        ) as runtime:
            ...

    ``projections`` follow the feed in the background (see ``provide_projector``; with
    ``run_projectors=False`` they are only built, for a process that leaves them to another);
    ``inline`` projections commit with each append instead. The file is opened when the
    runtime starts and closed, after the projector stopped, when it stops. With ``archive``
    (where ``forze_eventstore.archive_cold_streams`` put cold streams), streams and
    aggregates read whole, archived versions included (``forze_eventstore.ArchivedReads``).
    """
    opened: dict[str, SQLiteDatabase] = {}

    @asynccontextmanager
    async def open_store(_resolve: Resolver) -> AsyncIterator[EventStore]:
        database = SQLiteDatabase(path, synchronous=synchronous)
        try:
            opened["db"] = database
            yield reading_archive(SQLiteEventStore(database), archive)
        finally:
            database.close()

    def repositories(resolve: Resolver) -> EventSourcedRepositories:
        return EventSourcedRepositories(
            resolve(EVENT_STORE), snapshots=resolve(SNAPSHOTS), codec=codec
        )

    async def add_inline(
        store: EventStore, backend: ProjectionBackend, projection: Projection
    ) -> None:
        store = without_archive(store)
        assert isinstance(store, SQLiteEventStore)
        assert isinstance(backend, SQLiteProjectionBackend)
        await add_inline_projection(store, backend, projection)

    module = DepsModule(name)
    module.provide_resource(EVENT_STORE, open_store)
    module.provide_factory(SNAPSHOTS, lambda _resolve: SQLiteSnapshotStore(opened["db"]))
    module.provide_factory(AGGREGATES, repositories)
    module.provide_factory(
        PROJECTION_BACKEND, lambda _resolve: SQLiteProjectionBackend(opened["db"])
    )
    module.provide_factory(READ_MODELS, lambda resolve: resolve(PROJECTION_BACKEND).serving())
    module.provide_factory(CHECKPOINTS, lambda resolve: resolve(PROJECTION_BACKEND).checkpoints)
    if projections or inline:
        provide_projector(
            module,
            projections,
            inline=inline,
            add_inline=add_inline,
            options=projector,
            run=run_projectors,
        )
    return module
