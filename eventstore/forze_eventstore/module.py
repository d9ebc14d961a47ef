"""Dependency modules wiring an event store, repositories and snapshots into a runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import cast

from forze.contracts import EventStore, ObjectStorage, SnapshotStore
from forze.domain.errors import WiringError
from forze.execution import AGGREGATES, EVENT_STORE, SNAPSHOTS, DepsModule, Resolver
from forze_eventstore._archive_kit import StreamArchives
from forze_eventstore.archiving import ArchivedReads
from forze_eventstore.codec import EventCodec
from forze_eventstore.repository import EventSourcedRepositories
from forze_eventstore.snapshots import SQLiteSnapshotStore
from forze_eventstore.sqlite import SQLiteEventStore
from forze_eventstore.sqlite_db import SQLiteDatabase, Synchronous

__all__ = ["event_store_module", "sqlite_events_module"]


def event_store_module(
    store: EventStore,
    *,
    snapshots: SnapshotStore | None = None,
    codec: EventCodec | None = None,
    archive: ObjectStorage | None = None,
    name: str = "eventstore",
) -> DepsModule:
    """Provide ``store`` as the event store, repositories over it, and ``snapshots``.

    With ``archive`` (where ``archive_cold_streams`` put cold streams; ``store`` must then
    implement the archiving port), the store is provided as ``ArchivedReads``: streams and
    aggregates read whole, archived versions included."""
    if archive is not None:
        if not hasattr(store, "archived_segments"):
            raise WiringError(f"{type(store).__name__} cannot archive streams: no archive=")
        store = ArchivedReads(cast(StreamArchives, store), archive)
    module = DepsModule(name)
    module.provide(EVENT_STORE, store)
    if snapshots is not None:
        module.provide(SNAPSHOTS, snapshots)
    module.provide(AGGREGATES, EventSourcedRepositories(store, snapshots=snapshots, codec=codec))
    return module


def sqlite_events_module(
    path: str | Path,
    *,
    synchronous: Synchronous = "FULL",
    codec: EventCodec | None = None,
    archive: ObjectStorage | None = None,
    name: str = "sqlite",
) -> DepsModule:
    """Open the SQLite file at ``path`` for the runtime's lifetime: events, snapshots, repos
    (``archive``: as for :func:`event_store_module`)."""
    database: SQLiteDatabase | None = None

    @asynccontextmanager
    async def open_store(_resolve: Resolver) -> AsyncIterator[EventStore]:
        nonlocal database
        database = SQLiteDatabase(path, synchronous=synchronous)
        try:
            store = SQLiteEventStore(database)
            yield store if archive is None else ArchivedReads(store, archive)
        finally:
            database.close()

    def open_snapshots(_resolve: Resolver) -> SnapshotStore:
        assert database is not None  # the event store resource is entered first
        return SQLiteSnapshotStore(database)

    def repositories(resolve: Resolver) -> EventSourcedRepositories:
        return EventSourcedRepositories(
            resolve(EVENT_STORE), snapshots=resolve(SNAPSHOTS), codec=codec
        )

    module = DepsModule(name)
    module.provide_resource(EVENT_STORE, open_store)
    module.provide_factory(SNAPSHOTS, open_snapshots)
    module.provide_factory(AGGREGATES, repositories)
    return module
