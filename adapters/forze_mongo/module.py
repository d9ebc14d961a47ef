"""``mongo_module``: MongoDB adapters wired into a runtime, client lifecycle included."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from forze.contracts import EventStore, ObjectStorage
from forze.domain.errors import WiringError
from forze.execution import (
    AGGREGATES,
    CHECKPOINTS,
    EVENT_STORE,
    READ_MODELS,
    SNAPSHOTS,
    DepsModule,
    Resolver,
)
from forze_eventstore import EventCodec, EventSourcedRepositories
from forze_eventstore.archiving import reading_archive
from forze_mongo.database import MongoDatabase
from forze_mongo.event_store import MongoEventStore
from forze_mongo.projections import MongoProjectionBackend
from forze_mongo.snapshots import MongoSnapshotStore
from forze_projections import PROJECTION_BACKEND, Projection, ProjectorOptions
from forze_projections.adapter_kit import provide_projector

__all__ = ["mongo_module"]


def mongo_module(
    url: str,
    *,
    database: str | None = None,
    prefix: str = "forze_",
    timeout: float = 10.0,
    append_lease: float = 5.0,
    codec: EventCodec | None = None,
    archive: ObjectStorage | None = None,
    projections: Sequence[Projection] = (),
    inline: Sequence[Projection] = (),
    run_projectors: bool = True,
    projector: ProjectorOptions | None = None,
    name: str = "mongo",
) -> DepsModule:
    """Open a client for ``url`` for the runtime's lifetime and provide every MongoDB
    adapter.

    The event store's indexes are created when the runtime starts; the client closes when
    it stops. Provides the event store, repositories, snapshots, the projection backend, its
    checkpoints and its live read models and, with ``projections``, the ``PROJECTOR`` that
    keeps them filled: they follow the feed in the background, one process at a time each
    (see ``forze_projections.provide_projector``; ``run_projectors=False`` only builds them).

    ``database`` defaults to the URL's, else ``forze``; a tenant gets its own ``database``
    (or ``prefix``). Every operation runs within ``timeout`` seconds; ``append_lease`` is
    the event store's (see ``MongoEventStore``). ``inline`` projections
    are refused with ``WiringError``: they run inside an append's transaction, and appends
    on MongoDB use none (see docs/mongo.md); follow the feed instead. With ``archive``
    (where ``forze_eventstore.archive_cold_streams`` put cold streams), streams and
    aggregates read whole, archived versions included (``forze_eventstore.ArchivedReads``).
    """
    if inline:
        raise WiringError(
            "inline projections need the append's own transaction, which MongoDB appends do"
            f" not use: run {[p.name for p in inline]} as projections that follow the feed"
        )
    MongoDatabase.check_names(database, prefix)  # a bad name fails at wiring, not at start
    opened: dict[str, MongoDatabase] = {}

    @asynccontextmanager
    async def open_store(_resolve: Resolver) -> AsyncIterator[EventStore]:
        db = MongoDatabase.connect(url, database=database, prefix=prefix, timeout=timeout)
        store = MongoEventStore(db, append_lease=append_lease)
        try:
            await store.migrate()
            opened["db"] = db
            yield reading_archive(store, archive)
        finally:
            await store.close()
            await db.close()

    module = DepsModule(name)
    module.provide_resource(EVENT_STORE, open_store)
    module.provide_factory(SNAPSHOTS, lambda _resolve: MongoSnapshotStore(opened["db"]))
    module.provide_factory(
        AGGREGATES,
        lambda resolve: EventSourcedRepositories(
            resolve(EVENT_STORE), snapshots=resolve(SNAPSHOTS), codec=codec
        ),
    )
    module.provide_factory(PROJECTION_BACKEND, lambda _: MongoProjectionBackend(opened["db"]))
    module.provide_factory(READ_MODELS, lambda resolve: resolve(PROJECTION_BACKEND).serving())
    module.provide_factory(CHECKPOINTS, lambda resolve: resolve(PROJECTION_BACKEND).checkpoints)
    if projections:
        provide_projector(module, projections, options=projector, run=run_projectors)
    return module
