"""The snapshot-store contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from forze.contracts import Snapshot, SnapshotStore
from forze.domain.errors import InvalidInputError

__all__ = ["SnapshotStoreContract"]


class SnapshotStoreContract(ABC):
    """Subclass and implement ``open_snapshots`` (a fresh, empty snapshot store)."""

    @abstractmethod
    def open_snapshots(self) -> AbstractAsyncContextManager[SnapshotStore]:
        """An async context manager giving a new, empty snapshot store."""

    @pytest.fixture
    async def snapshots(self) -> AsyncIterator[SnapshotStore]:
        """A fresh snapshot store for one test."""
        async with self.open_snapshots() as store:
            yield store

    async def test_a_missing_snapshot_loads_as_none(self, snapshots: SnapshotStore) -> None:
        assert await snapshots.load("s-1") is None

    async def test_the_newest_snapshot_is_loaded(self, snapshots: SnapshotStore) -> None:
        await snapshots.save(Snapshot("s-1", 10, 1, {"total": 10}))
        await snapshots.save(Snapshot("s-1", 20, 1, {"total": 20, "nested": {"a": [1, 2]}}))
        assert await snapshots.load("s-1") == Snapshot(
            "s-1", 20, 1, {"total": 20, "nested": {"a": [1, 2]}}
        )

    async def test_an_older_snapshot_never_replaces_a_newer_one(
        self, snapshots: SnapshotStore
    ) -> None:
        await snapshots.save(Snapshot("s-1", 20, 1, {"total": 20}))
        await snapshots.save(Snapshot("s-1", 5, 1, {"total": 5}))
        loaded = await snapshots.load("s-1")
        assert loaded is not None
        assert loaded.version == 20

    async def test_snapshots_of_streams_are_independent(self, snapshots: SnapshotStore) -> None:
        await snapshots.save(Snapshot("s-1", 3, 1, {"n": 1}))
        await snapshots.save(Snapshot("s-2", 4, 2, {"n": 2}))
        assert (await snapshots.load("s-2")) == Snapshot("s-2", 4, 2, {"n": 2})
        await snapshots.delete("s-1")
        assert await snapshots.load("s-1") is None
        assert await snapshots.load("s-2") is not None
        await snapshots.delete("s-1")

    @pytest.mark.parametrize(
        "bad", ["\x00", "\ud800", "\ud83d\ude00"], ids=["nul", "surrogate", "paired-surrogates"]
    )
    async def test_a_snapshot_key_or_state_with_nul_or_a_surrogate_is_refused(
        self, snapshots: SnapshotStore, bad: str
    ) -> None:
        await snapshots.save(Snapshot("s-😀", 1, 1, {"text": "😀"}))
        assert await snapshots.load("s-😀") == Snapshot("s-😀", 1, 1, {"text": "😀"})
        for refused in (
            Snapshot(f"s-{bad}", 2, 1, {}),
            Snapshot("s-1", 2, 1, {"text": f"a{bad}"}),
            Snapshot("s-1", 2, 1, {f"k{bad}": 1}),
        ):
            with pytest.raises(InvalidInputError):
                await snapshots.save(refused)
        with pytest.raises(InvalidInputError, match="stream id"):
            await snapshots.load(f"s-{bad}")
        with pytest.raises(InvalidInputError, match="stream id"):
            await snapshots.delete(f"s-{bad}")
        assert await snapshots.load("s-1") is None

    @pytest.mark.parametrize(
        "fields",
        [
            {"version": 2**31},
            {"version": 2**63},
            {"schema_version": 2**31},
            {"version": -1},
            {"version": "2"},
            {"stream_id": ""},
        ],
        ids=["version-2**31", "version-2**63", "schema-2**31", "negative", "text", "empty-id"],
    )
    async def test_a_snapshot_no_store_can_hold_is_refused(
        self, snapshots: SnapshotStore, fields: dict[str, Any]
    ) -> None:
        snapshot = Snapshot(
            **{"stream_id": "s-1", "version": 1, "schema_version": 1, "state": {}, **fields}
        )
        with pytest.raises(InvalidInputError):
            await snapshots.save(snapshot)
        await snapshots.save(Snapshot("s-1", 2**31 - 1, 2**31 - 1, {}))
        assert await snapshots.load("s-1") == Snapshot("s-1", 2**31 - 1, 2**31 - 1, {})
