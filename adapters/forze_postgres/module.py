"""``postgres_module``: PostgreSQL adapters wired into a runtime, pool lifecycle included."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

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
from forze_eventstore import EventCodec, EventSourcedRepositories
from forze_eventstore.archiving import reading_archive, without_archive
from forze_postgres.database import PostgresDatabase
from forze_postgres.event_store import PostgresEventStore
from forze_postgres.inline import add_postgres_inline_projection
from forze_postgres.projections import PostgresProjectionBackend
from forze_postgres.snapshots import PostgresSnapshotStore
from forze_projections import PROJECTION_BACKEND, Projection, ProjectionBackend, ProjectorOptions
from forze_projections.adapter_kit import provide_projector

__all__ = ["postgres_module"]


def postgres_module(
    dsn: str,
    *,
    schema: str = "public",
    tenant: str | None = None,
    max_connections: int = 10,
    codec: EventCodec | None = None,
    archive: ObjectStorage | None = None,
    projections: Sequence[Projection] = (),
    inline: Sequence[Projection] = (),
    run_projectors: bool = True,
    projector: ProjectorOptions | None = None,
    name: str = "postgres",
) -> DepsModule:
    """Open a pool to ``dsn`` for the runtime's lifetime and provide every PostgreSQL adapter.

    The event store's tables are migrated when the runtime starts; the pool (and the
    LISTEN connection) close when it stops. Provides the event store, repositories,
    snapshots, the projection backend, its checkpoints and its live read models and, with
    ``projections`` or ``inline``, the ``PROJECTOR`` that keeps them filled: ``projections``
    follow the feed in the background, one process at a time each (see
    ``forze_projections.provide_projector``; ``run_projectors=False`` only builds them), and
    ``inline`` projections commit in each append's transaction.

    Tenancy (see ``PostgresDatabase``): a schema per tenant is ``schema="tenant_acme"``; the
    tenant-column layout, where tenants share the schema's tables, is ``tenant="acme"``.

    With ``archive`` (where ``forze_eventstore.archive_cold_streams`` put cold streams),
    streams and aggregates read whole, archived versions included
    (``forze_eventstore.ArchivedReads``).
    """
    opened: dict[str, PostgresDatabase] = {}

    @asynccontextmanager
    async def open_store(_resolve: Resolver) -> AsyncIterator[EventStore]:
        db = await PostgresDatabase.connect(
            dsn, schema=schema, tenant=tenant, max_size=max_connections
        )
        store = PostgresEventStore(db)
        try:
            await store.migrate()
            opened["db"] = db
            yield reading_archive(store, archive)
        finally:
            await store.close()
            await db.close()

    def backend(_resolve: Resolver) -> PostgresProjectionBackend:
        return PostgresProjectionBackend(opened["db"])

    module = DepsModule(name)
    module.provide_resource(EVENT_STORE, open_store)
    module.provide_factory(SNAPSHOTS, lambda _resolve: PostgresSnapshotStore(opened["db"]))
    module.provide_factory(
        AGGREGATES,
        lambda resolve: EventSourcedRepositories(
            resolve(EVENT_STORE), snapshots=resolve(SNAPSHOTS), codec=codec
        ),
    )
    module.provide_factory(PROJECTION_BACKEND, backend)
    module.provide_factory(READ_MODELS, lambda resolve: resolve(PROJECTION_BACKEND).serving())
    module.provide_factory(CHECKPOINTS, lambda resolve: resolve(PROJECTION_BACKEND).checkpoints)
    if projections or inline:
        provide_projector(
            module,
            projections,
            inline=inline,
            add_inline=_add_inline,
            options=projector,
            run=run_projectors,
        )
    return module


async def _add_inline(
    store: EventStore, backend: ProjectionBackend, projection: Projection
) -> None:
    store = without_archive(store)
    assert isinstance(store, PostgresEventStore)
    assert isinstance(backend, PostgresProjectionBackend)
    await add_postgres_inline_projection(store, backend, projection)
