"""MongoCheckpointStore passes the checkpoint-store contract against a MongoDB wire-protocol
server, plus saves racing from two clients and the listing of every checkpoint."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC
from typing import Any

import pytest
from pymongo.errors import DuplicateKeyError

from forze.contracts import CheckpointStore
from forze_mongo.checkpoints import MongoCheckpointStore
from forze_mongo.database import MongoDatabase
from forze_projections.testing import CheckpointStoreContract
from tests.mongo_support import MONGO_URL, fresh_database


class _Database:
    """Gives each test a fresh database, as ``self.db``."""

    db: MongoDatabase

    @pytest.fixture(autouse=True)
    async def _database(self) -> AsyncIterator[None]:
        async with fresh_database() as db:
            self.db = db
            yield


class _LosesTheUpsertRace:
    """A collection whose first upsert loses a race: another writer inserts the document
    (at ``position``) just before, and the upsert is refused as a duplicate ``_id``."""

    def __init__(self, collection: Any, position: int) -> None:
        self._collection = collection
        self._position = position
        self.lost = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)

    async def update_one(self, query: Any, update: Any, *, upsert: bool = False) -> Any:
        if upsert and not self.lost:
            self.lost += 1
            await self._collection.insert_one({"_id": query["_id"], "position": self._position})
            raise DuplicateKeyError("E11000 duplicate key error", 11000)
        return await self._collection.update_one(query, update, upsert=upsert)


class TestMongoCheckpointStore(_Database, CheckpointStoreContract):
    """The contract, plus concurrency across clients, lost races and the listing."""

    def make_checkpoints(self) -> CheckpointStore:
        return MongoCheckpointStore(self.db)

    async def test_saves_racing_from_two_clients_keep_the_highest_position(self) -> None:
        other = MongoDatabase.connect(MONGO_URL, database=self.db.name)
        try:
            stores = [MongoCheckpointStore(self.db), MongoCheckpointStore(other)]
            rng = random.Random(11)
            names = ["relay", "orders", "audit"]
            saves = [
                (rng.choice(names), rng.randrange(1, 2**40), rng.randrange(2)) for _ in range(300)
            ]
            await asyncio.gather(
                *(stores[client].save(name, position) for name, position, client in saves)
            )
            highest = {
                name: max(position for n, position, _ in saves if n == name) for name in names
            }
            for store in stores:
                assert {name: await store.load(name) for name in names} == highest
                assert await store.all() == dict(sorted(highest.items()))
        finally:
            await other.close()

    async def test_a_save_that_loses_the_insert_race_to_a_lower_position_moves_it_up(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store = MongoCheckpointStore(self.db)
        racing = _LosesTheUpsertRace(self.db.collection("checkpoints"), 3)
        monkeypatch.setattr(store, "_checkpoints", racing)
        await store.save("relay", 10)
        assert racing.lost == 1
        assert await store.load("relay") == 10
        assert await store.moved_at("relay") is not None

    async def test_a_save_that_loses_the_insert_race_to_a_higher_position_leaves_it(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store = MongoCheckpointStore(self.db)
        racing = _LosesTheUpsertRace(self.db.collection("checkpoints"), 30)
        monkeypatch.setattr(store, "_checkpoints", racing)
        await store.save("relay", 10)
        assert racing.lost == 1
        assert await store.load("relay") == 30

    async def test_moved_at_is_in_utc(self) -> None:
        store = MongoCheckpointStore(self.db)
        await store.save("relay", 1)
        moved = await store.moved_at("relay")
        assert moved is not None
        assert moved.tzinfo is UTC

    async def test_all_lists_every_checkpoint_in_code_point_order(self) -> None:
        store = MongoCheckpointStore(self.db)
        assert await store.all() == {}
        for name, position in [("relay", 4), ("orders", 9), ("Zed", 1), ("é", 2), ("audit", 0)]:
            await store.save(name, position)
        await store.reset("relay")
        assert list((await store.all()).items()) == [
            ("Zed", 1),
            ("audit", 0),
            ("orders", 9),
            ("é", 2),
        ]

    async def test_checkpoints_live_in_the_prefixed_collection(self) -> None:
        store = MongoCheckpointStore(self.db)
        await store.save("relay", 7)
        names = await self.db.database.list_collection_names()
        assert "forze_checkpoints" in names
        found = await self.db.collection("checkpoints").find_one({"_id": "relay"})
        assert found is not None
        assert found["position"] == 7
