"""Both built-in event stores and snapshot stores pass the contract suites."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from forze.contracts import EventStore, SnapshotStore
from forze_eventstore import (
    EventLimits,
    InMemoryEventStore,
    InMemorySnapshotStore,
    SQLiteEventStore,
    SQLiteSnapshotStore,
)
from forze_eventstore.adapter_kit import DEFAULT_LIMITS
from forze_eventstore.testing import EventStoreContract, SnapshotStoreContract


class TestInMemoryEventStore(EventStoreContract):
    @asynccontextmanager
    async def open_store(self) -> AsyncIterator[EventStore]:
        yield InMemoryEventStore(poll_interval=0.05)

    @asynccontextmanager
    async def open_limited_store(self, limits: EventLimits) -> AsyncIterator[EventStore]:
        yield InMemoryEventStore(poll_interval=0.05, limits=limits)


class TestSQLiteEventStoreInMemory(EventStoreContract):
    @asynccontextmanager
    async def open_store(self) -> AsyncIterator[EventStore]:
        async with self.open_limited_store(DEFAULT_LIMITS) as store:
            yield store

    @asynccontextmanager
    async def open_limited_store(self, limits: EventLimits) -> AsyncIterator[EventStore]:
        async with SQLiteEventStore(":memory:", poll_interval=0.05, limits=limits) as store:
            yield store


class TestSQLiteEventStoreOnAFile(EventStoreContract):
    @asynccontextmanager
    async def open_store(self) -> AsyncIterator[EventStore]:
        async with self.open_limited_store(DEFAULT_LIMITS) as store:
            yield store

    @asynccontextmanager
    async def open_limited_store(self, limits: EventLimits) -> AsyncIterator[EventStore]:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "events.sqlite"
            async with SQLiteEventStore(
                path, synchronous="NORMAL", poll_interval=0.05, limits=limits
            ) as store:
                yield store


class TestInMemorySnapshotStore(SnapshotStoreContract):
    @asynccontextmanager
    async def open_snapshots(self) -> AsyncIterator[SnapshotStore]:
        yield InMemorySnapshotStore()


class TestSQLiteSnapshotStore(SnapshotStoreContract):
    @asynccontextmanager
    async def open_snapshots(self) -> AsyncIterator[SnapshotStore]:
        store = SQLiteSnapshotStore(":memory:")
        try:
            yield store
        finally:
            store.close()
