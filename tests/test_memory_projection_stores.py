"""The in-memory checkpoint and read-model stores pass their suites, plus in-memory specifics."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from forze.contracts import (
    CheckpointStore,
    Filter,
    Query,
    ReadModelSpec,
    ReadModelStore,
    ReadModelStores,
    SortKey,
)
from forze.domain.errors import InvalidInputError, WiringError
from forze_projections.memory import (
    InMemoryCheckpointStore,
    InMemoryReadModelStore,
    InMemoryReadModelStores,
)
from forze_projections.testing import (
    BOOKS,
    Book,
    CheckpointStoreContract,
    ReadModelStoreContract,
)
from tests.read_model_samples import TICKETS, Ticket


class TestInMemoryCheckpointStore(CheckpointStoreContract):
    """The contract, plus the store's input check."""

    def make_checkpoints(self) -> CheckpointStore:
        return InMemoryCheckpointStore()

    async def test_a_negative_position_is_rejected(self) -> None:
        store = InMemoryCheckpointStore()
        with pytest.raises(InvalidInputError):
            await store.save("relay", -1)
        assert await store.load("relay") == 0


class TestInMemoryReadModelStore(ReadModelStoreContract):
    """The contract, plus the in-memory store's search, cursor and value handling."""

    def make_store(self, spec: ReadModelSpec[Book]) -> ReadModelStore[Book]:
        return InMemoryReadModelStore(spec)

    async def test_a_cursor_only_resumes_the_sort_it_came_from(
        self, library: ReadModelStore[Book]
    ) -> None:
        page = await library.find(Query(sort=(SortKey("year"),), limit=2))
        assert page.next_cursor is not None
        with pytest.raises(InvalidInputError, match="different sort"):
            await library.find(Query(sort=(SortKey("year", True),), cursor=page.next_cursor))
        forged = base64.urlsafe_b64encode(b'{"sort": [["id", false]], "values": []}').decode()
        with pytest.raises(InvalidInputError):
            await library.find(Query(cursor=forged))

    @pytest.mark.parametrize(
        "condition",
        [Filter("year", "eq", "soon"), Filter("year", "in", 1984), Filter("year", "in", "1984")],
    )
    async def test_a_filter_value_that_does_not_fit_the_field_is_rejected(
        self, library: ReadModelStore[Book], condition: Filter
    ) -> None:
        with pytest.raises(InvalidInputError):
            await library.count([condition])

    async def test_a_filter_value_is_read_as_the_fields_type(
        self, library: ReadModelStore[Book]
    ) -> None:
        assert await library.count([Filter("year", "eq", "1984")]) == 1

    async def test_a_sort_on_the_key_field_needs_no_further_tiebreak(
        self, library: ReadModelStore[Book]
    ) -> None:
        page = await library.find(Query(sort=(SortKey("id", True), SortKey("year")), limit=2))
        assert [book.id for book in page.items] == ["b6", "b5"]
        assert page.next_cursor is not None
        rest = await library.find(
            Query(sort=(SortKey("id", True), SortKey("year")), cursor=page.next_cursor)
        )
        assert [book.id for book in rest.items] == ["b4", "b3", "b2", "b1"]

    async def test_a_non_string_key_is_addressed_by_its_text(self) -> None:
        store = InMemoryReadModelStore(TICKETS)
        opened = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
        await store.upsert(Ticket(number=7, opened_at=opened))
        assert await store.get("7") == Ticket(number=7, opened_at=opened)
        later = datetime(2024, 6, 1, tzinfo=UTC)
        patched = await store.patch("7", {"opened_at": later, "title": "late"})
        assert patched == Ticket(number=7, opened_at=later, title="late")
        assert await store.count([Filter("opened_at", "gt", opened)]) == 1
        assert await store.delete("7") is True


class TestInMemoryReadModelStores:
    """The callable that gives one store per read model name."""

    def test_the_same_spec_always_gets_the_same_store(self) -> None:
        stores: ReadModelStores = InMemoryReadModelStores()
        assert stores(BOOKS) is stores(BOOKS)

    async def test_a_store_keeps_its_documents_between_lookups(self) -> None:
        stores = InMemoryReadModelStores()
        await stores(BOOKS).upsert(Book(id="b1", title="Dune", author="Herbert", year=1965))
        assert await stores(BOOKS).count() == 1

    def test_another_spec_under_a_name_in_use_raises_wiring_error(self) -> None:
        stores = InMemoryReadModelStores()
        stores(BOOKS)
        with pytest.raises(WiringError, match="contract_books"):
            stores(ReadModelSpec(name="contract_books", model=Ticket, key="number"))
