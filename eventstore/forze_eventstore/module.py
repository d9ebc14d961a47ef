"""Dependency modules wiring an event store, repositories and snapshots into a runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from forze.contracts import EventStore, SnapshotStore
from forze.execution import AGGREGATES, EVENT_STORE, SNAPSHOTS, DepsModule, Resolver
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
    name: str = "eventstore",
) -> DepsModule:
    """Provide ``store`` as the event store, repositories over it, and ``snapshots``."""
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
    name: str = "sqlite",
) -> DepsModule:
    """Open the SQLite file at ``path`` for the runtime's lifetime: events, snapshots, repos."""
    database: SQLiteDatabase | None = None

    @asynccontextmanager
    async def open_store(_resolve: Resolver) -> AsyncIterator[EventStore]:
        nonlocal database
        database = SQLiteDatabase(path, synchronous=synchronous)
        try:
            yield SQLiteEventStore(database)
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
