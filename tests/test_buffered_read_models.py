"""The projector's write-behind buffer keeps the read-model contract, over memory and SQLite."""

from __future__ import annotations

import pytest

from forze.contracts import ReadModelSpec, ReadModelStore
from forze_eventstore import SQLiteDatabase
from forze_projections.adapter_kit import (
    BufferedReadModelStores,
    InMemoryReadModelStores,
    SQLiteReadModelStores,
)
from forze_projections.testing import BOOKS, Book, ReadModelStoreContract


class TestBufferedOverMemory(ReadModelStoreContract):
    def make_store(self, spec: ReadModelSpec[Book]) -> ReadModelStore[Book]:
        return BufferedReadModelStores(InMemoryReadModelStores())(spec)


class TestBufferedOverSQLite(ReadModelStoreContract):
    def make_store(self, spec: ReadModelSpec[Book]) -> ReadModelStore[Book]:
        return BufferedReadModelStores(SQLiteReadModelStores(SQLiteDatabase(":memory:")))(spec)


async def test_buffered_writes_reach_the_store_only_when_flushed() -> None:
    stores = InMemoryReadModelStores()
    buffered = BufferedReadModelStores(stores)
    book = Book(id="b1", title="Dune", author="Herbert", year=1965)
    await buffered(BOOKS).upsert(book)
    await buffered(BOOKS).patch("b1", {"year": 1966})
    assert await stores(BOOKS).get("b1") is None
    assert (await buffered(BOOKS).get("b1")) == book.model_copy(update={"year": 1966})
    await buffered.flush()
    stored = await stores(BOOKS).get("b1")
    assert stored is not None
    assert stored.year == 1966
    await buffered(BOOKS).delete("b1")
    await buffered.flush()
    assert await stores(BOOKS).get("b1") is None


async def test_a_bad_patch_is_refused_at_once() -> None:
    buffered = BufferedReadModelStores(InMemoryReadModelStores())
    book = Book(id="b1", title="Dune", author="Herbert", year=1965)
    await buffered(BOOKS).upsert(book)
    with pytest.raises(ValueError, match="invalid"):
        await buffered(BOOKS).patch("b1", {"year": "many"})
