"""``MongoSnapshotStore``: the newest snapshot per stream, one document per stream."""

from __future__ import annotations

import json

from pymongo.errors import DuplicateKeyError

from forze.contracts import Snapshot
from forze_eventstore.adapter_kit import check_snapshot, check_snapshot_stream_id
from forze_mongo.database import Document, MongoDatabase

__all__ = ["MongoSnapshotStore"]


class MongoSnapshotStore:
    """A :class:`forze.contracts.SnapshotStore` in the collection ``snapshots`` (with the
    database's prefix: ``forze_snapshots`` by default).

    One document per stream: ``{_id: stream_id, version, schema_version, state, saved_at}``.
    The state is kept as its JSON text (``dump_json``'s), not as a BSON document: MongoDB
    refuses field names that start with ``$`` or contain ``.``, and JSON allows any key. A
    save is one conditional single-document update, so it is atomic on any MongoDB
    deployment and an older snapshot never replaces a newer one, however many processes
    save at once. MongoDB creates the collection at the first save.
    """

    def __init__(self, db: MongoDatabase) -> None:
        self.db = db
        self._snapshots = db.collection("snapshots")

    async def save(self, snapshot: Snapshot) -> None:
        """See ``SnapshotStore.save``: stored unless the stored snapshot is of a newer
        stream version (one of the same version is replaced).

        The update matches the stream's document only while its version is not newer, and
        inserts it when there is none. When that insert loses a race (another save created
        the document first), the update is tried once more without the insert.
        """
        state = check_snapshot(snapshot)
        stream_id = snapshot.stream_id
        not_newer: Document = {"_id": stream_id, "version": {"$lte": snapshot.version}}
        replaced: Document = {
            "$set": {
                "version": snapshot.version,
                "schema_version": snapshot.schema_version,
                "state": state,
            },
            "$currentDate": {"saved_at": True},
        }
        with self.db.operation(f"cannot save a snapshot of {stream_id[:80]!r}"):
            try:
                await self._snapshots.update_one(not_newer, replaced, upsert=True)
            except DuplicateKeyError:  # stored already: replace it only if it is not newer
                await self._snapshots.update_one(not_newer, replaced)

    async def load(self, stream_id: str) -> Snapshot | None:
        """See ``SnapshotStore.load``."""
        check_snapshot_stream_id(stream_id)
        with self.db.operation(f"cannot load the snapshot of {stream_id[:80]!r}"):
            found = await self._snapshots.find_one(
                {"_id": stream_id}, {"version": 1, "schema_version": 1, "state": 1}
            )
        if found is None:
            return None
        return Snapshot(
            stream_id,
            int(found["version"]),
            int(found["schema_version"]),
            json.loads(found["state"]),
        )

    async def delete(self, stream_id: str) -> None:
        """See ``SnapshotStore.delete``."""
        check_snapshot_stream_id(stream_id)
        with self.db.operation(f"cannot delete the snapshot of {stream_id[:80]!r}"):
            await self._snapshots.delete_one({"_id": stream_id})
