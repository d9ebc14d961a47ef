"""The read-model store contract (:class:`ReadModelStore` adapters).

An adapter's test module subclasses a suite as ``Test<Adapter>`` and implements its factory.
The read-model suite pins the query semantics every adapter shares: null sorts before every
value ascending (after them descending); strings compare by code point; ``eq``/``ne`` treat
null as a value (``ne x`` matches null); ``lt``/``le``/``gt``/``ge`` never match null; the key
field breaks ties, ascending; a cursor resumes strictly after the last item of its page.
"""

from __future__ import annotations

import operator
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, get_args

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from forze.contracts import (
    Filter,
    FilterOp,
    Query,
    ReadModelSpec,
    ReadModelStore,
    SortKey,
)
from forze.domain.errors import InvalidInputError, NotFoundError
from forze_projections.testing.read_model_input import ReadModelInputContract
from forze_projections.testing.read_model_names import ReadModelNamesContract
from forze_projections.testing.read_model_search import ReadModelSearchContract

__all__ = ["BOOKS", "Book", "ReadModelStoreContract"]


class Book(BaseModel):
    """The small read model the read-model suite stores."""

    id: str
    title: str
    author: str
    year: int = Field(ge=0)
    rating: float | None = None
    tags: list[str] = Field(default_factory=list)


BOOKS: ReadModelSpec[Book] = ReadModelSpec(
    name="contract_books",
    model=Book,
    indexes=("author", "year", "rating"),
    search_fields=("title", "author"),
)
"""The spec the read-model suite passes to ``make_store``."""
_Store = ReadModelStore[Book]

LIBRARY = (
    Book(id="b1", title="Dune", author="Frank Herbert", year=1965, rating=4.5, tags=["scifi"]),
    Book(id="b2", title="Children of Dune", author="Frank Herbert", year=1976, rating=3.9),
    Book(id="b3", title="Neuromancer", author="William Gibson", year=1984, rating=4.1),
    Book(id="b4", title="Count Zero", author="William Gibson", year=1986),
    Book(id="b5", title="Left Hand of Darkness", author="Ursula Le Guin", year=1969, rating=4.2),
    Book(id="b6", title="The Dispossessed", author="Ursula Le Guin", year=1974),
)

_FILTER_CASES = [
    (Filter("author", "eq", "William Gibson"), ["b3", "b4"]),
    (Filter("author", "ne", "William Gibson"), ["b1", "b2", "b5", "b6"]),
    (Filter("year", "lt", 1969), ["b1"]),
    (Filter("year", "le", 1969), ["b1", "b5"]),
    (Filter("year", "gt", 1984), ["b4"]),
    (Filter("year", "ge", 1984), ["b3", "b4"]),
    (Filter("author", "in", ["Frank Herbert", "Ursula Le Guin"]), ["b1", "b2", "b5", "b6"]),
    (Filter("rating", "eq", None), ["b4", "b6"]),
    (Filter("rating", "ne", None), ["b1", "b2", "b3", "b5"]),
    (Filter("rating", "ne", 4.5), ["b2", "b3", "b4", "b5", "b6"]),
    (Filter("rating", "gt", 4.0), ["b1", "b3", "b5"]),
    (Filter("rating", "lt", 4.0), ["b2"]),
    (Filter("id", "in", []), []),
]

_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "id": st.text(alphabet="abcde", min_size=1, max_size=3),
    "title": st.text(alphabet="abAB é", max_size=4),
    "author": st.sampled_from(["ann", "Bob", "cy"]),
    "year": st.integers(1999, 2004),
    "rating": st.none() | st.sampled_from([1.0, 2.5, 3.0, 4.0]),
}
_BOOKS = st.lists(
    st.builds(
        Book,
        id=_VALUES["id"],
        title=_VALUES["title"],
        author=_VALUES["author"],
        year=st.integers(2000, 2003),
        rating=st.none() | st.sampled_from([1.0, 2.5, 4.0]),
    ),
    unique_by=lambda book: book.id,
    max_size=15,
)
_SORTS = st.lists(
    st.builds(SortKey, field=st.sampled_from(sorted(_VALUES)), descending=st.booleans()),
    max_size=3,
    unique_by=lambda key: key.field,
)


@st.composite
def _filters(draw: st.DrawFn) -> Filter:
    name = draw(st.sampled_from(sorted(_VALUES)))
    op: FilterOp = draw(st.sampled_from(get_args(FilterOp)))
    if op == "in":
        return Filter(name, op, draw(st.lists(_VALUES[name], max_size=3)))
    return Filter(name, op, draw(_VALUES[name]))


def _holds(book: Book, condition: Filter) -> bool:
    """The reference meaning of a filter, straight from the pinned semantics."""
    value = getattr(book, condition.field)
    if condition.op == "eq":
        return bool(value == condition.value)
    if condition.op == "ne":
        return bool(value != condition.value)
    if condition.op == "in":
        return value in condition.value
    if value is None or condition.value is None:
        return False
    return bool(getattr(operator, condition.op)(value, condition.value))


def _nulls_first(name: str) -> Callable[[Book], tuple[bool, Any]]:
    return lambda book: (getattr(book, name) is not None, getattr(book, name))


def _reference(
    books: Sequence[Book], filters: Sequence[Filter], sort: Sequence[SortKey]
) -> list[str]:
    """The ids a query must return, computed by filtering and sorting in Python."""
    found = sorted((b for b in books if all(_holds(b, f) for f in filters)), key=lambda b: b.id)
    for key in reversed(sort):
        found.sort(key=_nulls_first(key.field), reverse=key.descending)
    return [book.id for book in found]


async def _ids(store: ReadModelStore[Book], query: Query) -> list[str]:
    """The ids of every item of every page of ``query``, paging with its limit."""
    ids: list[str] = []
    cursor: str | None = None
    for _ in range(1000):
        page = await store.find(
            Query(filters=query.filters, sort=query.sort, limit=query.limit, cursor=cursor)
        )
        assert len(page.items) <= query.limit
        assert page.items or not ids, "a page after the first one is empty"
        ids.extend(book.id for book in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return ids
    pytest.fail("paging never reached a page without a next cursor")


class ReadModelStoreContract(
    ReadModelNamesContract, ReadModelSearchContract, ReadModelInputContract, ABC
):
    """Behaviour every :class:`forze.contracts.ReadModelStore` adapter has."""

    @abstractmethod
    def make_store(self, spec: ReadModelSpec[Any]) -> ReadModelStore[Any]:
        """A store for ``spec`` (:data:`BOOKS`, or a spec a case makes) holding no documents."""

    @pytest.fixture
    def store(self) -> _Store:
        """An empty store under test."""
        return self.make_store(BOOKS)

    @pytest.fixture
    async def library(self, store: _Store) -> _Store:
        """The store under test holding :data:`LIBRARY`."""
        for book in LIBRARY:
            await store.upsert(book)
        return store

    async def test_get_reads_back_an_upserted_document_and_none_for_a_missing_key(
        self, store: _Store
    ) -> None:
        await store.upsert(LIBRARY[0])
        assert await store.get("b1") == LIBRARY[0]
        assert await store.get("missing") is None

    async def test_upsert_replaces_the_whole_document(self, store: _Store) -> None:
        await store.upsert(LIBRARY[0])
        replacement = Book(id="b1", title="Dune (2nd ed.)", author="F. H.", year=1966)
        await store.upsert(replacement)
        assert await store.get("b1") == replacement

    async def test_documents_read_or_written_are_not_shared_with_the_store(
        self, store: _Store
    ) -> None:
        written = LIBRARY[0].model_copy(deep=True)
        await store.upsert(written)
        written.tags.append("changed")
        read = await store.get("b1")
        assert read == LIBRARY[0]
        assert read is not None
        read.title = "changed"
        assert await store.get("b1") == LIBRARY[0]

    async def test_get_many_returns_the_documents_that_exist(self, library: _Store) -> None:
        found = await library.get_many(["b3", "missing", "b1"])
        assert sorted(book.id for book in found) == ["b1", "b3"]

    @pytest.mark.parametrize("year", [-1, "soon"])
    async def test_an_invalid_document_is_rejected_and_changes_nothing(
        self, library: _Store, year: Any
    ) -> None:
        bad = Book.model_construct(id="b1", title="Dune", author="Frank Herbert", year=year)
        with pytest.raises(InvalidInputError):
            await library.upsert(bad)
        assert await library.get("b1") == LIBRARY[0]

    async def test_patch_changes_only_the_named_fields_and_returns_the_document(
        self, library: _Store
    ) -> None:
        patched = await library.patch("b4", {"rating": 3.5, "tags": ["sprawl"]})
        expected = LIBRARY[3].model_copy(update={"rating": 3.5, "tags": ["sprawl"]})
        assert patched == expected
        assert await library.get("b4") == expected

    async def test_patching_a_missing_document_raises_not_found(self, store: _Store) -> None:
        with pytest.raises(NotFoundError):
            await store.patch("missing", {"rating": 1.0})
        assert await store.get("missing") is None

    @pytest.mark.parametrize(
        "changes", [{"year": -3}, {"year": "soon"}, {"publisher": "Ace"}, {"id": "b9"}]
    )
    async def test_an_invalid_patch_is_rejected_and_changes_nothing(
        self, library: _Store, changes: dict[str, Any]
    ) -> None:
        with pytest.raises(InvalidInputError):
            await library.patch("b1", changes)
        assert await library.get("b1") == LIBRARY[0]
        assert await library.get("b9") is None

    async def test_delete_returns_whether_a_document_existed(self, library: _Store) -> None:
        assert await library.delete("b1") is True
        assert await library.delete("b1") is False
        assert await library.get("b1") is None

    @pytest.mark.parametrize(("condition", "expected"), _FILTER_CASES)
    async def test_find_and_count_keep_documents_matching_a_filter(
        self, library: _Store, condition: Filter, expected: list[str]
    ) -> None:
        assert await _ids(library, Query(filters=(condition,))) == expected
        assert await library.count([condition]) == len(expected)

    async def test_find_keeps_documents_matching_every_filter(self, library: _Store) -> None:
        filters = (Filter("author", "eq", "William Gibson"), Filter("year", "gt", 1985))
        assert await _ids(library, Query(filters=filters)) == ["b4"]
        assert await library.count(filters) == 1
        assert await library.count() == len(LIBRARY)

    @pytest.mark.parametrize(
        ("sort", "expected"),
        [
            ((), ["b1", "b2", "b3", "b4", "b5", "b6"]),
            ((SortKey("author"), SortKey("year", True)), ["b2", "b1", "b6", "b5", "b4", "b3"]),
            ((SortKey("rating"),), ["b4", "b6", "b2", "b3", "b5", "b1"]),
            ((SortKey("rating", True),), ["b1", "b5", "b3", "b2", "b4", "b6"]),
        ],
    )
    async def test_find_sorts_by_every_key_then_by_the_key_field(
        self, library: _Store, sort: tuple[SortKey, ...], expected: list[str]
    ) -> None:
        assert await _ids(library, Query(sort=sort, limit=100)) == expected
        assert await _ids(library, Query(sort=sort, limit=4)) == expected

    async def test_the_last_page_has_no_next_cursor(self, library: _Store) -> None:
        first = await library.find(Query(limit=3))
        assert [b.id for b in first.items] == ["b1", "b2", "b3"]
        assert first.next_cursor is not None
        last = await library.find(Query(limit=3, cursor=first.next_cursor))
        assert [b.id for b in last.items] == ["b4", "b5", "b6"]
        assert last.next_cursor is None

    async def test_a_cursor_resumes_after_its_page_when_documents_are_added_before_it(
        self, library: _Store
    ) -> None:
        first = await library.find(Query(sort=(SortKey("year"),), limit=2))
        await library.upsert(Book(id="b0", title="Foundation", author="Isaac Asimov", year=1951))
        rest = await library.find(Query(sort=(SortKey("year"),), cursor=first.next_cursor))
        ids = [b.id for b in first.items] + [b.id for b in rest.items]
        assert ids == ["b1", "b5", "b6", "b2", "b3", "b4"]

    @pytest.mark.parametrize(
        "query",
        [
            Query(filters=(Filter("publisher", "eq", "Ace"),)),
            Query(filters=(Filter("publisher", "in", []),)),
            Query(sort=(SortKey("publisher"),)),
            Query(limit=0),
            Query(cursor="not a cursor"),
        ],
    )
    async def test_a_bad_query_is_rejected(self, library: _Store, query: Query) -> None:
        with pytest.raises(InvalidInputError):
            await library.find(query)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("dune", ["b1", "b2"]),
            ("HERBERT Dune", ["b1", "b2"]),
            ("children herbert", ["b2"]),
            ("gibson zero", ["b4"]),
            ("guin darkness", ["b5"]),
            ("dune gibson", []),
        ],
    )
    async def test_search_finds_documents_containing_every_word_in_any_search_field(
        self, library: _Store, text: str, expected: list[str]
    ) -> None:
        assert sorted(book.id for book in await library.search(text)) == expected

    async def test_search_returns_at_most_limit_documents(self, library: _Store) -> None:
        assert len(await library.search("herbert", limit=1)) == 1

    # Every adapter's test class runs this inherited method ("differing executors" is the
    # design); the store fixture is emptied through the port for each example.
    @settings(
        max_examples=75,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(
        books=_BOOKS,
        filters=st.lists(_filters(), max_size=2),
        sort=_SORTS,
        limit=st.integers(1, 4),
    )
    async def test_paging_through_find_returns_every_match_once_in_order(
        self, books: list[Book], filters: list[Filter], sort: list[SortKey], limit: int
    ) -> None:
        store = self.make_store(BOOKS)
        for stale in await _ids(store, Query(limit=100)):
            await store.delete(stale)
        for book in books:
            await store.upsert(book)
        query = Query(filters=tuple(filters), sort=tuple(sort), limit=limit)
        assert await _ids(store, query) == _reference(books, filters, sort)
        assert await store.count(filters) == len(_reference(books, filters, []))
