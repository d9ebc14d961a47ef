"""The snapshot-store port."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Snapshot", "SnapshotStore"]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An aggregate's state as of stream ``version``, in the spec's ``schema_version`` shape."""

    stream_id: str
    version: int
    schema_version: int
    state: Mapping[str, Any]


class SnapshotStore(Protocol):
    """Keeps the latest snapshot per stream.

    Guarantees: ``load`` returns the snapshot with the highest version saved for the stream (a
    ``save`` of an older version than the stored one is ignored); a snapshot is an optimisation
    only, so losing one never loses data. Readers ignore snapshots whose ``schema_version`` is
    not the current one.
    """

    async def save(self, snapshot: Snapshot) -> None:
        """Store ``snapshot`` unless a newer one for the same stream is already stored."""
        ...

    async def load(self, stream_id: str) -> Snapshot | None:
        """The newest snapshot of ``stream_id``, or ``None``."""
        ...

    async def delete(self, stream_id: str) -> None:
        """Forget every snapshot of ``stream_id`` (no error when there is none)."""
        ...
