"""MongoSnapshotStore passes the snapshot-store contract against a MongoDB wire-protocol
server, plus saves racing from two clients and states MongoDB could not keep as BSON."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from pymongo.errors import DuplicateKeyError

from forze.contracts import Snapshot, SnapshotStore
from forze.domain.errors import InvalidInputError
from forze_eventstore.testing.snapshots import SnapshotStoreContract
from forze_mongo.database import MongoDatabase
from forze_mongo.snapshots import MongoSnapshotStore
from tests.mongo_support import MONGO_URL, fresh_database


class _LosesTheUpsertRace:
    """A collection whose first upsert loses a race: another writer inserts the stream's
    snapshot (of ``version``) just before, and the upsert is refused as a duplicate
    ``_id``."""

    def __init__(self, collection: Any, version: int) -> None:
        self._collection = collection
        self._version = version
        self.lost = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)

    async def update_one(self, query: Any, update: Any, *, upsert: bool = False) -> Any:
        if upsert and not self.lost:
            self.lost += 1
            stored = {"version": self._version, "schema_version": 1, "state": '{"by":"other"}'}
            await self._collection.insert_one({"_id": query["_id"], **stored})
            raise DuplicateKeyError("E11000 duplicate key error", 11000)
        return await self._collection.update_one(query, update, upsert=upsert)


class TestMongoSnapshotStore(SnapshotStoreContract):
    """The contract (each store in a fresh database), plus MongoDB specifics."""

    @asynccontextmanager
    async def open_snapshots(self) -> AsyncIterator[SnapshotStore]:
        async with fresh_database() as db:
            yield MongoSnapshotStore(db)

    @pytest.fixture
    async def db(self) -> AsyncIterator[MongoDatabase]:
        async with fresh_database() as db:
            yield db

    async def test_state_keys_mongodb_forbids_in_documents_round_trip(
        self, db: MongoDatabase
    ) -> None:
        store = MongoSnapshotStore(db)
        state = {"$set": {"a.b": 1, "": [True, None, 1.5]}, "_id": "x", "$": {"$in": []}}
        await store.save(Snapshot("s-1", 1, 1, state))
        assert await store.load("s-1") == Snapshot("s-1", 1, 1, state)

    async def test_a_snapshot_of_the_same_version_replaces_the_stored_one(
        self, db: MongoDatabase
    ) -> None:
        store = MongoSnapshotStore(db)
        await store.save(Snapshot("s-1", 4, 1, {"shape": "old"}))
        await store.save(Snapshot("s-1", 4, 2, {"shape": "new"}))
        assert await store.load("s-1") == Snapshot("s-1", 4, 2, {"shape": "new"})

    async def test_saves_racing_from_two_clients_keep_the_newest_snapshot(
        self, db: MongoDatabase
    ) -> None:
        other = MongoDatabase.connect(MONGO_URL, database=db.name)
        try:
            stores = [MongoSnapshotStore(db), MongoSnapshotStore(other)]
            rng = random.Random(5)
            streams = ["s-1", "s-2", "s-3"]
            saves = [(rng.choice(streams), version) for version in rng.sample(range(1, 10**6), 300)]
            await asyncio.gather(
                *(
                    stores[index % 2].save(Snapshot(stream, version, 1, {"at": version}))
                    for index, (stream, version) in enumerate(saves)
                )
            )
            for stream in streams:
                newest = max(version for s, version in saves if s == stream)
                for store in stores:
                    assert await store.load(stream) == Snapshot(stream, newest, 1, {"at": newest})
        finally:
            await other.close()

    async def test_a_save_that_loses_the_insert_race_to_an_older_snapshot_replaces_it(
        self, db: MongoDatabase, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store = MongoSnapshotStore(db)
        racing = _LosesTheUpsertRace(db.collection("snapshots"), 3)
        monkeypatch.setattr(store, "_snapshots", racing)
        await store.save(Snapshot("s-1", 10, 1, {"by": "me"}))
        assert racing.lost == 1
        assert await store.load("s-1") == Snapshot("s-1", 10, 1, {"by": "me"})

    async def test_a_save_that_loses_the_insert_race_to_a_newer_snapshot_leaves_it(
        self, db: MongoDatabase, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store = MongoSnapshotStore(db)
        racing = _LosesTheUpsertRace(db.collection("snapshots"), 30)
        monkeypatch.setattr(store, "_snapshots", racing)
        await store.save(Snapshot("s-1", 10, 1, {"by": "me"}))
        assert racing.lost == 1
        assert await store.load("s-1") == Snapshot("s-1", 30, 1, {"by": "other"})

    async def test_a_state_beyond_the_document_size_limit_is_refused(
        self, db: MongoDatabase
    ) -> None:
        store = MongoSnapshotStore(db)
        with pytest.raises(InvalidInputError, match="cannot store"):
            await store.save(Snapshot("s-1", 1, 1, {"blob": "x" * (17 * 1024 * 1024)}))
        assert await store.load("s-1") is None

    async def test_snapshots_live_in_the_prefixed_collection(self, db: MongoDatabase) -> None:
        await MongoSnapshotStore(db).save(Snapshot("s-1", 2, 1, {"n": 1}))
        found = await db.collection("snapshots").find_one({"_id": "s-1"})
        assert found is not None
        assert (found["version"], found["schema_version"], found["state"]) == (2, 1, '{"n":1}')
        assert await db.database.list_collection_names() == ["forze_snapshots"]
