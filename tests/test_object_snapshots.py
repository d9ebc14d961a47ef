"""Snapshots in object storage: the snapshot-store contract on a directory and in memory, and
what object storage adds (one object per version, damaged objects skipped)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from forze.contracts import Snapshot, SnapshotStore
from forze_eventstore import DirectoryObjectStorage, ObjectSnapshotStore
from forze_eventstore.testing import SnapshotStoreContract
from forze_mock import InMemoryObjectStorage


class TestObjectSnapshotStoreInMemory(SnapshotStoreContract):
    """The contract on in-memory object storage."""

    @asynccontextmanager
    async def open_snapshots(self) -> AsyncIterator[SnapshotStore]:
        yield ObjectSnapshotStore(InMemoryObjectStorage())


class TestObjectSnapshotStoreInADirectory(SnapshotStoreContract):
    """The contract on a local directory."""

    @pytest.fixture(autouse=True)
    def _root(self, tmp_path: Path) -> None:
        self.root = tmp_path

    @asynccontextmanager
    async def open_snapshots(self) -> AsyncIterator[SnapshotStore]:
        yield ObjectSnapshotStore(DirectoryObjectStorage(self.root), prefix="snaps")


async def test_a_save_keeps_only_the_newest_object_and_a_late_older_save_changes_nothing() -> None:
    storage = InMemoryObjectStorage()
    snapshots = ObjectSnapshotStore(storage)
    await snapshots.save(Snapshot("order-1", 5, 1, {"lines": 5}))
    await snapshots.save(Snapshot("order-1", 9, 1, {"lines": 9}))
    assert len(await storage.list("snapshots/")) == 1
    await snapshots.save(Snapshot("order-1", 7, 1, {"lines": 7}))  # a slower process
    assert await snapshots.load("order-1") == Snapshot("order-1", 9, 1, {"lines": 9})
    assert len(await storage.list("snapshots/")) == 1


async def test_a_damaged_snapshot_object_is_skipped_for_an_older_one() -> None:
    storage = InMemoryObjectStorage()
    snapshots = ObjectSnapshotStore(storage)
    await snapshots.save(Snapshot("order-1", 3, 1, {"lines": 3}))
    [older] = await storage.list()
    kept = await storage.get(older)
    await snapshots.save(Snapshot("order-1", 4, 1, {"lines": 4}))
    [newer] = await storage.list()
    await storage.put(older, kept)  # as a concurrent save would leave it
    await storage.put(newer, b"not gzip")
    assert await snapshots.load("order-1") == Snapshot("order-1", 3, 1, {"lines": 3})


async def test_a_large_state_is_compressed() -> None:
    storage = InMemoryObjectStorage()
    state = {"lines": [{"sku": f"sku-{n % 50}", "qty": n % 7} for n in range(100_000)]}
    await ObjectSnapshotStore(storage).save(Snapshot("order-big", 1, 1, state))
    [key] = await storage.list()
    assert len(await storage.get(key)) < 400_000  # about 2.8 MB of JSON
    assert (await ObjectSnapshotStore(storage).load("order-big")) == Snapshot(
        "order-big", 1, 1, state
    )
