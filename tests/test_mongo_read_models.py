"""MongoReadModelStore passes the read-model contract against a MongoDB wire-protocol
server (each test in a fresh database), plus MongoDB specifics: what MongoDB cannot store,
field names it cannot address, non-string keys, concurrent patches, long search words,
queries agreeing with the in-memory store, and the registry."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from forze.contracts import Filter, Query, ReadModelSpec, ReadModelStore, SortKey
from forze.domain.errors import InvalidInputError, WiringError
from forze_mongo.database import MongoDatabase
from forze_mongo.read_models import MongoReadModelStore, MongoReadModelStores
from forze_projections.adapter_kit import BufferedReadModelStores
from forze_projections.memory import InMemoryReadModelStore
from forze_projections.testing import BOOKS, Book, ReadModelStoreContract
from forze_projections.testing.read_model_names import unchecked_spec
from tests.mongo_support import MONGO_URL, ON_EMULATOR, fresh_database
from tests.read_model_samples import (
    TASK_SORTS,
    TASKS,
    TICKETS,
    Task,
    Ticket,
    paged_ids,
    task_filters,
    task_lists,
)

DUNE = Book(id="b1", title="Dune", author="Frank Herbert", year=1965, rating=4.5, tags=["scifi"])
GIBSON = Book(id="b3", title="Neuromancer", author="William Gibson", year=1984, rating=4.1)


class _Database:
    """Gives each test a fresh database, as ``self.db``."""

    db: MongoDatabase

    @pytest.fixture(autouse=True)
    async def _database(self) -> AsyncIterator[None]:
        async with fresh_database() as db:
            self.db = db
            yield


class TestMongoReadModelStore(_Database, ReadModelStoreContract):
    """The contract, plus cursors, filter values, keys and what MongoDB cannot store."""

    def make_store(self, spec: ReadModelSpec[Any]) -> ReadModelStore[Any]:
        return MongoReadModelStore(self.db, spec)

    async def test_a_cursor_only_resumes_the_sort_it_came_from(
        self, library: ReadModelStore[Book]
    ) -> None:
        page = await library.find(Query(sort=(SortKey("year"),), limit=2))
        assert page.next_cursor is not None
        with pytest.raises(InvalidInputError, match="different sort"):
            await library.find(Query(sort=(SortKey("year", True),), cursor=page.next_cursor))
        for values in ([7], [2**70], ["\ud800"], [{"$gt": ""}]):
            payload = json.dumps({"sort": [["id", False]], "values": values})
            forged = base64.urlsafe_b64encode(payload.encode()).decode()
            with pytest.raises(InvalidInputError):
                await library.find(Query(cursor=forged))

    async def test_filter_values_are_read_as_the_fields_type(
        self, library: ReadModelStore[Book]
    ) -> None:
        assert await library.count([Filter("year", "eq", "1984")]) == 1
        assert await library.count([Filter("year", "in", ["1984", 1965])]) == 2
        assert await library.count([Filter("rating", "in", [None, 4.1])]) == 3
        bad = [
            Filter("title", "eq", {"$ne": None}),
            Filter("year", "eq", "soon"),
            Filter("year", "in", "1984"),
            Filter("year", "gt", 2**64),
            Filter("title", "like", "Dune"),  # type: ignore[arg-type]
        ]
        for condition in bad:
            with pytest.raises(InvalidInputError):
                await library.count([condition])

    async def test_a_non_string_key_is_addressed_by_its_text_and_sorted_as_a_number(
        self,
    ) -> None:
        store = MongoReadModelStore(self.db, TICKETS)
        opened = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
        for number in (7, 10, 9):
            await store.upsert(Ticket(number=number, opened_at=opened))
        assert await store.get("7") == Ticket(number=7, opened_at=opened)
        later = datetime(2024, 6, 1, tzinfo=UTC)
        assert await store.patch("7", {"opened_at": later, "title": "late"}) == Ticket(
            number=7, opened_at=later, title="late"
        )
        assert await store.count([Filter("opened_at", "gt", opened)]) == 1
        page = await store.find(Query(limit=2))
        assert [t.number for t in page.items] == [7, 9]
        rest = await store.find(Query(limit=2, cursor=page.next_cursor))
        assert [t.number for t in rest.items] == [10]

    async def test_documents_are_stored_as_bson_documents_keyed_by_their_key(self) -> None:
        store = MongoReadModelStore(self.db, BOOKS)
        await store.upsert(DUNE)
        stored = await self.db.collection("rm_contract_books").find_one({"_id": "b1"})
        assert stored is not None
        assert {name: stored[name] for name in Book.model_fields} == DUNE.model_dump()
        assert set(stored) - set(Book.model_fields) == {"_id", "_w", "_rev", "_v_tags"}
        assert stored["_v_tags"] == '["scifi"]'  # a list is compared by its JSON text
        assert await self.db.collection("rm_contract_books").count_documents({"year": 1965}) == 1

    @pytest.mark.parametrize(
        "bad",
        [
            {"rating": float("nan")},
            {"rating": float("inf")},
            {"year": 2**63},
            {"tags": ["ok", "x" * (17 * 1024 * 1024)]},
        ],
    )
    async def test_a_document_mongodb_cannot_store_is_refused_and_changes_nothing(
        self, library: ReadModelStore[Book], bad: dict[str, Any]
    ) -> None:
        with pytest.raises(InvalidInputError):
            await library.patch("b1", bad)
        with pytest.raises(InvalidInputError):
            await library.upsert(Book.model_construct(**{**DUNE.model_dump(), **bad}))
        store = MongoReadModelStore(self.db, BOOKS)
        new = Book(id="new", title="New", author="A", year=2000)
        with pytest.raises(InvalidInputError):
            await store.upsert_many([new, Book.model_construct(**{**DUNE.model_dump(), **bad})])
        assert await library.get("b1") == DUNE
        assert await library.get("new") is None

    @pytest.mark.parametrize("key", ["$set", "a.b", "$"])
    async def test_a_key_mongodb_forbids_inside_a_value_is_refused(self, key: str) -> None:
        store = MongoReadModelStore(self.db, ReadModelSpec("extras", _Extra))
        await store.upsert(_Extra(id="e1", extra={"plain": {"ok": 1}}))
        for extra in ({key: 1}, {"nested": {key: 1}}, {"list": [{key: 1}]}):
            with pytest.raises(InvalidInputError, match="cannot store"):
                await store.upsert(_Extra(id="e1", extra=extra))
            with pytest.raises(InvalidInputError, match="cannot store"):
                await store.patch("e1", {"extra": extra})
        assert await store.get("e1") == _Extra(id="e1", extra={"plain": {"ok": 1}})

    async def test_a_field_name_mongodb_cannot_address_is_stored_under_its_hex(self) -> None:
        fields: dict[str, Any] = {"id": (str, ...), "$.a": (str | None, None)}
        model = pydantic.create_model("Dotted", **fields)
        store = MongoReadModelStore(self.db, unchecked_spec("dotted", model, indexes=("$.a",)))
        await store.upsert(model(id="k", **{"$.a": "value"}))
        stored = await self.db.collection("rm_dotted").find_one({"_id": "k"})
        assert stored is not None
        assert stored["_h" + b"$.a".hex()] == "value"
        assert await store.count([Filter("$.a", "eq", "value")]) == 1
        nul: dict[str, Any] = {"id": (str, ...), "a\x00b": (str | None, None)}
        with pytest.raises(InvalidInputError, match="NUL"):
            MongoReadModelStore(self.db, unchecked_spec("nul", pydantic.create_model("N", **nul)))

    def test_a_collection_name_must_be_a_short_identifier(self) -> None:
        for bad in ["x.y", "$cmd", "a b", "t" * 130]:
            with pytest.raises(InvalidInputError, match="collection name"):
                MongoReadModelStore(self.db, BOOKS, collection=bad)
        with pytest.raises(InvalidInputError, match="collection name"):
            MongoReadModelStore(self.db, ReadModelSpec("größe", Book))


class _Extra(BaseModel):
    id: str
    extra: dict[str, Any] = Field(default_factory=dict)


class _Counters(BaseModel):
    id: str
    a: int = 0
    b: int = 0
    c: int = 0
    d: int = 0
    e: int = 0
    f: int = 0


class _Note(BaseModel):
    id: str
    title: str = ""


class TestMongoSpecifics(_Database):
    """Concurrency, long search words, indexes, collections and the registry."""

    async def test_concurrent_patches_of_one_document_keep_every_change(self) -> None:
        other = MongoDatabase.connect(MONGO_URL, database=self.db.name)
        try:
            spec = ReadModelSpec("counters", _Counters)
            stores = [MongoReadModelStore(self.db, spec), MongoReadModelStore(other, spec)]
            await stores[0].upsert(_Counters(id="k"))
            names = "abcdef"
            rounds = 5
            await asyncio.gather(
                *(
                    stores[(n + r) % 2].patch("k", {name: r + 1})
                    for r in range(rounds)
                    for n, name in enumerate(names)
                )
            )
            final = await stores[0].get("k")
            assert final is not None
            assert all(getattr(final, name) > 0 for name in names), final
        finally:
            await other.close()

    async def test_search_matches_words_longer_than_the_indexed_prefixes(self) -> None:
        spec = ReadModelSpec("long_notes", _Note, search_fields=("title",))
        store = MongoReadModelStore(self.db, spec)
        long = "Donaudampfschifffahrtsgesellschaftskapitän"
        notes = [
            _Note(id="n1", title=f"{long} Dune"),
            _Note(id="n2", title="Donaudampfschifffahrtselektrizitätenhauptbetriebswerk"),
            _Note(id="n3", title=long),
            _Note(id="n4", title="donau"),
        ]
        await store.upsert_many(notes)

        async def found(text: str, limit: int = 20) -> list[str]:
            return [note.id for note in await store.search(text, limit=limit)]

        assert await found("donaudampfschifffahrt") == ["n1", "n2", "n3"]
        assert await found("donaudampfschifffahrtsgesellschaft") == ["n1", "n3"]
        assert await found("donaudampfschifffahrtsgesellschaft dune") == ["n1"]
        assert await found("donaudampfschifffahrtsgesellschaftskapitän") == ["n1", "n3"]
        assert await found("donaudampfschifffahrtsgesellschaftskapitäne") == []
        assert await found("donaudampfschifffahrtsgesellschaft", limit=1) == ["n1"]
        assert await found("donaudampfschifffahrtsgesellschaft", limit=1) == ["n1"]
        await store.patch("n1", {"title": "Dune"})
        assert await found("donaudampfschifffahrtsgesellschaft") == ["n3"]

    async def test_the_indexed_fields_and_the_search_entries_are_indexed(self) -> None:
        store = MongoReadModelStore(self.db, BOOKS)
        await store.migrate()
        indexes = await store.collection.index_information()
        keys = {tuple(path for path, _ in index["key"]) for index in indexes.values()}
        assert {("_id",), ("author",), ("year",), ("rating",), ("_w",)} <= keys
        tasks = MongoReadModelStore(self.db, TASKS)
        await tasks.migrate()
        indexes = await tasks.collection.index_information()
        keys = {tuple(path for path, _ in index["key"]) for index in indexes.values()}
        assert {("done",), ("_r_score", "_v_score"), ("_w",)} <= keys
        # nx-27017 keeps a field named "id" in a column of its own, and lists no index on it
        assert ON_EMULATOR or ("id",) in keys

    async def test_the_registry_gives_one_store_per_spec_and_drops_collections(self) -> None:
        stores = MongoReadModelStores(self.db)
        assert stores(BOOKS) is stores(BOOKS)
        with pytest.raises(WiringError):
            stores(ReadModelSpec("contract_books", Task))
        await stores(BOOKS).upsert_many([DUNE, GIBSON])
        shadow = MongoReadModelStore(self.db, BOOKS, collection="books_shadow")
        await shadow.upsert(DUNE)
        await stores.drop(BOOKS)
        assert await stores(BOOKS).count() == 0
        assert await shadow.count() == 1
        await stores(BOOKS).upsert(GIBSON)
        assert [book.id for book in await stores(BOOKS).search("neuro")] == ["b3"]
        await stores.drop(BOOKS, "books_shadow")
        assert await shadow.get("b1") is None

    async def test_many_keys_are_read_and_deleted_in_batches(self) -> None:
        store = MongoReadModelStore(self.db, ReadModelSpec("many_notes", _Note))
        notes = [_Note(id=f"n{i:05}") for i in range(2500)]
        await store.upsert_many(notes)
        keys = [note.id for note in reversed(notes)]
        assert [note.id for note in await store.get_many([*keys, "missing"])] == keys
        await store.delete_many(keys[:2400])
        assert await store.count() == 100

    async def test_upserts_of_one_new_key_racing_from_two_clients_all_succeed(self) -> None:
        other = MongoDatabase.connect(MONGO_URL, database=self.db.name)
        try:
            stores = [MongoReadModelStore(self.db, BOOKS), MongoReadModelStore(other, BOOKS)]
            writes = [
                stores[n % 2].upsert(DUNE.model_copy(update={"year": 1965 + n})) for n in range(20)
            ]
            await asyncio.gather(*writes)
            assert await stores[0].count() == 1
        finally:
            await other.close()


class TestMongoQueriesMatchMemory(_Database):
    """Booleans, fields of mixed kinds and lists are queried like the in-memory store."""

    @settings(
        max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        tasks=task_lists(10),
        filters=st.lists(task_filters(), max_size=2),
        sort=TASK_SORTS,
        limit=st.integers(1, 4),
    )
    async def test_find_and_count_agree_with_memory(
        self, tasks: list[Task], filters: list[Filter], sort: list[SortKey], limit: int
    ) -> None:
        await MongoReadModelStores(self.db).drop(TASKS)
        mongo = MongoReadModelStore(self.db, TASKS)
        memory = InMemoryReadModelStore(TASKS)
        await mongo.upsert_many(tasks)
        await memory.upsert_many(tasks)
        query = Query(filters=tuple(filters), sort=tuple(sort), limit=limit)
        assert await paged_ids(mongo, query) == await paged_ids(memory, query)
        assert await mongo.count(filters) == await memory.count(filters)
        assert sorted(await mongo.get_many([str(t.id) for t in tasks]), key=lambda t: t.id) == (
            sorted(tasks, key=lambda t: t.id)
        )


class _Mixed(BaseModel):
    id: str
    value: bool | int | str | list[int] | None = None


_MIXED_VALUES: list[Any] = [None, False, True, 0, 1, 2, "", "1", "a", [], [1], [0, 2]]


async def _mixed_ids(store: ReadModelStore[_Mixed], query: Query) -> list[str]:
    """The ids of every document ``query`` finds, following its cursors page by page."""
    ids: list[str] = []
    cursor: str | None = None
    while True:
        page = await store.find(
            Query(filters=query.filters, sort=query.sort, limit=query.limit, cursor=cursor)
        )
        ids.extend(document.id for document in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return ids


class TestMongoMixedKinds(_Database):
    """A field of several kinds compares and sorts like the in-memory store: null, booleans,
    numbers, strings, then lists; ``true`` is not ``1``."""

    async def test_every_filter_and_sort_agrees_with_memory(self) -> None:
        spec = ReadModelSpec("mixed", _Mixed, indexes=("value",))
        mongo = MongoReadModelStore(self.db, spec)
        memory = InMemoryReadModelStore(spec)
        documents = [_Mixed(id=f"m{n:02}", value=v) for n, v in enumerate(_MIXED_VALUES * 2)]
        await mongo.upsert_many(documents)
        await memory.upsert_many(documents)
        stored = await mongo.collection.find_one({"_id": "m02"})
        assert stored is not None
        assert stored["value"] is True
        assert await mongo.get("m02") == _Mixed(id="m02", value=True)
        for value in _MIXED_VALUES:
            for op in ("eq", "ne", "lt", "le", "gt", "ge"):
                query = Query(filters=(Filter("value", op, value),), limit=3)
                assert await _mixed_ids(mongo, query) == await _mixed_ids(memory, query), query
            query = Query(filters=(Filter("value", "in", [value, True]),))
            assert await _mixed_ids(mongo, query) == await _mixed_ids(memory, query), query
        for descending in (False, True):
            query = Query(sort=(SortKey("value", descending),), limit=5)
            assert await _mixed_ids(mongo, query) == await _mixed_ids(memory, query), query


class TestBufferedOverMongo(_Database, ReadModelStoreContract):
    """The projector's write-behind buffer keeps the contract over MongoDB."""

    def make_store(self, spec: ReadModelSpec[Any]) -> ReadModelStore[Any]:
        return BufferedReadModelStores(MongoReadModelStores(self.db))(spec)
