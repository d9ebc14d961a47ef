"""``MongoCheckpointStore``: feed consumers' checkpoints, one document per consumer."""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from forze_mongo.database import Document, MongoDatabase
from forze_projections.checkpoint_input import check_checkpoint_name, check_checkpoint_position

__all__ = ["MongoCheckpointStore"]


class MongoCheckpointStore:
    """A :class:`forze.contracts.CheckpointStore` in the collection ``checkpoints`` (with
    the database's prefix: ``forze_checkpoints`` by default).

    One document per consumer: ``{_id: name, position: <int>, moved_at: <date>}``, where
    ``moved_at`` is the server's clock (millisecond precision) when the checkpoint last moved
    forward. A save is one conditional single-document update, so it is atomic on any
    MongoDB deployment and never moves a checkpoint backwards, however many processes save
    at once. MongoDB creates the collection at the first save; the ``_id`` index is all the
    store needs.
    """

    def __init__(self, db: MongoDatabase) -> None:
        self.db = db
        self._checkpoints = db.collection("checkpoints")

    async def load(self, name: str) -> int:
        """The last handled position of consumer ``name`` (0 when it never ran)."""
        check_checkpoint_name(name)
        with self.db.operation(f"cannot load the checkpoint {name[:80]!r}"):
            found = await self._checkpoints.find_one({"_id": name}, {"position": 1})
        return 0 if found is None else int(found["position"])

    async def save(self, name: str, position: int) -> None:
        """Record ``position`` unless an equal or higher one is stored; a negative one is
        invalid.

        The update matches the consumer's document only while its position is lower, and
        inserts it when there is none. When that insert loses a race (another save created
        the document first, which refuses a second ``_id``), the update is tried once more
        without the insert: it moves a lower stored position up, and leaves a higher one
        alone.
        """
        check_checkpoint_name(name)
        check_checkpoint_position(position)
        below: Document = {"_id": name, "position": {"$lt": position}}
        moved: Document = {"$set": {"position": position}, "$currentDate": {"moved_at": True}}
        with self.db.operation(f"cannot save the checkpoint {name[:80]!r}"):
            try:
                await self._checkpoints.update_one(below, moved, upsert=True)
            except DuplicateKeyError:  # stored already: move it only if it is below
                await self._checkpoints.update_one(below, moved)

    async def reset(self, name: str) -> None:
        """Forget the checkpoint of ``name`` so that it starts from the beginning."""
        check_checkpoint_name(name)
        with self.db.operation(f"cannot reset the checkpoint {name[:80]!r}"):
            await self._checkpoints.delete_one({"_id": name})

    async def moved_at(self, name: str) -> datetime | None:
        """When the checkpoint of ``name`` last moved forward (UTC, by the server's clock,
        to the millisecond); ``None`` when it has none."""
        check_checkpoint_name(name)
        with self.db.operation(f"cannot read the checkpoint {name[:80]!r}"):
            found = await self._checkpoints.find_one({"_id": name}, {"moved_at": 1})
        if found is None:
            return None
        moved: datetime = found["moved_at"]
        return moved.replace(tzinfo=UTC) if moved.tzinfo is None else moved.astimezone(UTC)

    async def all(self) -> dict[str, int]:
        """Every stored checkpoint, by consumer name (in code-point order of names)."""
        with self.db.operation("cannot list the checkpoints"):
            documents = (
                await self._checkpoints.find({}, {"position": 1}).sort("_id", ASCENDING).to_list()
            )
        return {str(doc["_id"]): int(doc["position"]) for doc in documents}
