"""``MongoProjectionBackend``: projections in a MongoDB database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from bson import ObjectId
from pydantic import BaseModel
from pymongo import ASCENDING, UpdateOne

from forze.contracts import ReadModelSpec
from forze_mongo._units import Journal
from forze_mongo.checkpoints import MongoCheckpointStore
from forze_mongo.database import MongoDatabase
from forze_mongo.leases import MongoLeases
from forze_mongo.read_models import MongoReadModelStore
from forze_projections.adapter_kit import ReadModelOwners, ServingStores, WriterStores
from forze_projections.errors import ProjectionFailure

__all__ = ["MongoProjectionBackend"]

M = TypeVar("M", bound=BaseModel)


def _collection_of(spec: ReadModelSpec[Any], version: int) -> str:
    """The collection (without the database's prefix) of version ``version`` of ``spec``."""
    return f"rm_{spec.name}_v{version}"


class MongoProjectionBackend:
    """A ``ProjectionBackend`` in one MongoDB database (and collection prefix).

    Each projection version writes its own collections (``rm_<read model>_v<version>``) and
    readers follow ``read_model_live``, which a cut-over updates in the unit that reaches the
    head. Units of work need no multi-document transaction: an undo journal makes a batch's
    documents, its checkpoint and a cut-over all-or-nothing, even when the process is killed
    mid-batch (``forze_mongo._units`` explains how, and what readers may see meanwhile).
    Leases are ``MongoLeases``. For tenants, give each its own database or prefix.
    """

    def __init__(self, db: MongoDatabase) -> None:
        self.db = db
        self._journal = journal = Journal(db)
        self._checkpoints = _UnitCheckpoints(db, journal)
        self._leases = MongoLeases(db, journal)
        self._stores: dict[str, MongoReadModelStore[Any]] = {}
        self.owners = ReadModelOwners()
        self._declared: dict[str, tuple[ReadModelSpec[Any], ...]] = {}
        self._live = db.collection("projection_live")
        self._serving = db.collection("read_model_live")
        self._failures = db.collection("projection_failures")

    @property
    def checkpoints(self) -> _UnitCheckpoints:
        """See ``ProjectionBackend.checkpoints``: their writes join the calling unit."""
        return self._checkpoints

    @property
    def leases(self) -> MongoLeases:
        """See ``ProjectionBackend.leases``: in the database, shared by its processes."""
        return self._leases

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[None]:
        """See ``ProjectionBackend.unit``: a unit of the undo journal."""
        async with self._journal.unit():
            yield

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """See ``ProjectionBackend.savepoint``."""
        async with self._journal.savepoint():
            yield

    def claim(self, name: str, read_models: Sequence[ReadModelSpec[Any]]) -> None:
        """See ``ProjectionBackend.claim``."""
        self.owners.claim(name, read_models)
        self._declared[name] = (*self._declared.get(name, ()), *read_models)

    def writer(self, name: str, version: int) -> WriterStores:
        """See ``ProjectionBackend.writer``."""
        return WriterStores(self, name, version)

    def serving(self) -> ServingStores:
        """See ``ProjectionBackend.serving``: each store reads the live registry per call."""
        return ServingStores(self)

    async def live_version(self, name: str) -> int | None:
        """See ``ProjectionBackend.live_version``."""
        with self.db.operation(f"read the live version of {name[:80]!r}"):
            found = await self._live.find_one({"_id": name})
        return None if found is None else int(found["version"])

    async def serving_version(self, spec: ReadModelSpec[Any]) -> int | None:
        """The live version of read model ``spec``; ``None`` before the first."""
        with self.db.operation(f"read the live version of read model {spec.name!r}"):
            found = await self._serving.find_one({"_id": spec.name})
        return None if found is None else int(found["version"])

    async def set_live(self, name: str, version: int) -> None:
        """See ``ProjectionBackend.set_live``: the projection and each of its read models,
        in the calling unit."""
        specs = self._declared.get(name, ())
        await self._journal.before_write(self._live.name, [name])
        await self._journal.before_write(self._serving.name, [spec.name for spec in specs])
        with self.db.operation(f"make version {version} of {name[:80]!r} live"):
            await self._live.update_one({"_id": name}, {"$set": {"version": version}}, upsert=True)
            if specs:
                await self._serving.bulk_write(
                    [
                        UpdateOne(
                            {"_id": spec.name},
                            {"$set": {"projection": name, "version": version}},
                            upsert=True,
                        )
                        for spec in specs
                    ]
                )

    async def drop(self, name: str, version: int) -> None:
        """See ``ProjectionBackend.drop``: the version's collections are dropped when the
        calling unit commits."""
        for spec in self._declared.get(name, ()):
            collection = self.db.prefix + _collection_of(spec, version)
            await self._journal.after_commit({"drop": collection})
            store = self._stores.get(collection)
            if store is not None:
                store.forget()

    async def caught_up(self, name: str, version: int) -> None:
        """See ``ProjectionBackend.caught_up``: nothing is deferred on MongoDB (a read
        model's indexes exist from its first write)."""

    async def record_failure(self, failure: ProjectionFailure) -> None:
        """See ``ProjectionBackend.record_failure``: kept with the calling unit, if any."""
        key = ObjectId()
        await self._journal.before_write(self._failures.name, [key])
        with self.db.operation("record a projection failure"):
            await self._failures.insert_one(
                {
                    "_id": key,
                    "projection": failure.projection,
                    "position": failure.position,
                    "event_type": failure.event_type,
                    "stream_id": failure.stream_id,
                    "error": failure.error,
                    "at": failure.at,
                }
            )

    async def failures(self, name: str) -> list[ProjectionFailure]:
        """See ``ProjectionBackend.failures``."""
        with self.db.operation(f"read the failures of {name[:80]!r}"):
            found = await self._failures.find({"projection": name}).sort("_id", ASCENDING).to_list()
        return [
            ProjectionFailure(
                projection=doc["projection"],
                position=int(doc["position"]),
                event_type=doc["event_type"],
                stream_id=doc["stream_id"],
                error=doc["error"],
                at=doc["at"].astimezone(UTC) if isinstance(doc["at"], datetime) else doc["at"],
            )
            for doc in found
        ]

    def store(self, spec: ReadModelSpec[M], version: int) -> MongoReadModelStore[M]:
        """The store of version ``version`` of read model ``spec``; its writes join the
        calling task's unit."""
        collection = _collection_of(spec, version)
        store = self._stores.get(self.db.prefix + collection)
        if store is None:
            store = MongoReadModelStore(self.db, spec, collection=collection, journal=self._journal)
            self._stores[self.db.prefix + collection] = store
        return cast(MongoReadModelStore[M], store)


class _UnitCheckpoints(MongoCheckpointStore):
    """The backend's checkpoints: a save or reset inside a unit joins it."""

    def __init__(self, db: MongoDatabase, journal: Journal) -> None:
        super().__init__(db)
        self._journal = journal
        self._collection = db.prefix + "checkpoints"

    async def save(self, name: str, position: int) -> None:
        """See ``CheckpointStore.save``."""
        await self._journal.before_write(self._collection, [name])
        await super().save(name, position)

    async def reset(self, name: str) -> None:
        """See ``CheckpointStore.reset``."""
        await self._journal.before_write(self._collection, [name])
        await super().reset(name)
