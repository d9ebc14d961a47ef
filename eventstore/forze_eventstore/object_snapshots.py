"""``ObjectSnapshotStore``: snapshots in object storage, for aggregates whose state is large."""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from typing import Any

from forze.contracts import ObjectStorage, Snapshot
from forze.domain.errors import NotFoundError
from forze_eventstore.snapshots import check_snapshot, check_snapshot_stream_id

__all__ = ["ObjectSnapshotStore"]


class ObjectSnapshotStore:
    """A ``SnapshotStore`` on any ``ObjectStorage`` (S3 with ``forze_s3``, a directory with
    ``DirectoryObjectStorage``): for aggregates whose snapshots are too large to keep beside
    the events (megabytes of state), at the cost of an object listing and a read per load.

    Each snapshot is its own object, ``PREFIX/<sha256 of the stream id>/<version>.json.gz``
    (gzip-compressed JSON holding the stream id, both versions and the state), so a save
    never overwrites a newer snapshot: ``load`` reads the highest version there, and a save
    deletes the older ones it finds. Two processes saving at once can each leave the other's
    object until the next save; never a newer snapshot lost. An object that cannot be read
    back (damaged, or written by something else) is skipped: a snapshot is an optimisation,
    the events are the truth.
    """

    def __init__(self, storage: ObjectStorage, prefix: str = "snapshots") -> None:
        self.storage = storage
        self.prefix = prefix.strip("/")

    def _folder(self, stream_id: str) -> str:
        digest = hashlib.sha256(stream_id.encode()).hexdigest()
        return f"{self.prefix}/{digest}/" if self.prefix else f"{digest}/"

    async def save(self, snapshot: Snapshot) -> None:
        """See ``SnapshotStore.save``."""
        state = check_snapshot(snapshot)
        head = json.dumps(
            {
                "stream_id": snapshot.stream_id,
                "version": snapshot.version,
                "schema_version": snapshot.schema_version,
            },
            ensure_ascii=False,
        )
        document = head[:-1] + ', "state": ' + state + "}"
        folder = self._folder(snapshot.stream_id)
        key = f"{folder}{snapshot.version:010d}.json.gz"
        body = gzip.compress(document.encode(), compresslevel=5, mtime=0)
        await self.storage.put(key, body, content_type="application/gzip")
        keys = await self.storage.list(folder)
        for older in keys[:-1]:
            await self.storage.delete(older)

    async def load(self, stream_id: str) -> Snapshot | None:
        """See ``SnapshotStore.load``: the highest version that reads back."""
        check_snapshot_stream_id(stream_id)
        for key in reversed(await self.storage.list(self._folder(stream_id))):
            try:
                data = await self.storage.get(key)
            except NotFoundError:
                continue  # deleted by a newer save since the listing
            snapshot = _decoded(data, stream_id)
            if snapshot is not None:
                return snapshot
        return None

    async def delete(self, stream_id: str) -> None:
        """See ``SnapshotStore.delete``."""
        check_snapshot_stream_id(stream_id)
        for key in await self.storage.list(self._folder(stream_id)):
            await self.storage.delete(key)


def _decoded(data: bytes, stream_id: str) -> Snapshot | None:
    try:
        record: dict[str, Any] = json.loads(gzip.decompress(data))
        snapshot = Snapshot(
            str(record["stream_id"]),
            int(record["version"]),
            int(record["schema_version"]),
            dict(record["state"]),
        )
    except (OSError, EOFError, zlib.error, ValueError, KeyError, TypeError):
        return None
    return snapshot if snapshot.stream_id == stream_id else None
