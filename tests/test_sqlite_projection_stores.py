"""The SQLite checkpoint and read-model stores pass their suites, plus SQLite specifics."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
from forze_eventstore.sqlite_db import SQLiteDatabase
from forze_projections.memory import InMemoryReadModelStore
from forze_projections.sqlite_checkpoints import SQLiteCheckpointStore
from forze_projections.sqlite_read_models import SQLiteReadModelStore, SQLiteReadModelStores
from forze_projections.testing import (
    BOOKS,
    Book,
    CheckpointStoreContract,
    ReadModelStoreContract,
)
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


class _Database:
    """Gives each test a fresh database: in memory, or in a file when ``in_file``."""

    in_file = False
    db: SQLiteDatabase

    @pytest.fixture(autouse=True)
    def _database(self, tmp_path: Path) -> Iterator[None]:
        self.db = SQLiteDatabase(tmp_path / "forze.sqlite" if self.in_file else ":memory:")
        yield
        self.db.close()


class TestSQLiteCheckpointStoreInMemory(_Database, CheckpointStoreContract):
    """The contract, plus the input check and the listing of every checkpoint."""

    def make_checkpoints(self) -> CheckpointStore:
        return SQLiteCheckpointStore(self.db)

    async def test_a_negative_position_is_rejected(self) -> None:
        store = SQLiteCheckpointStore(self.db)
        with pytest.raises(InvalidInputError):
            await store.save("relay", -1)
        assert await store.load("relay") == 0

    async def test_all_lists_every_checkpoint(self) -> None:
        store = SQLiteCheckpointStore(self.db)
        assert await store.all() == {}
        await store.save("relay", 4)
        await store.save("orders", 9)
        await store.reset("relay")
        await store.save("audit", 0)
        assert await store.all() == {"audit": 0, "orders": 9}


class TestSQLiteCheckpointStoreInFile(_Database, CheckpointStoreContract):
    """The contract, on a file."""

    in_file = True

    def make_checkpoints(self) -> CheckpointStore:
        return SQLiteCheckpointStore(self.db)


class _SQLiteReadModelContract(_Database, ReadModelStoreContract):
    """The read-model suite on a SQLite database."""

    def make_store(self, spec: ReadModelSpec[Book]) -> ReadModelStore[Book]:
        return SQLiteReadModelStore(self.db, spec)


class TestSQLiteReadModelStoreInFile(_SQLiteReadModelContract):
    """The contract, on a file."""

    in_file = True


class TestSQLiteReadModelStoreInMemory(_SQLiteReadModelContract):
    """The contract, plus the search, cursor and value handling the in-memory store has."""

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
        sort = (SortKey("id", True), SortKey("year"))
        page = await library.find(Query(sort=sort, limit=2))
        assert [book.id for book in page.items] == ["b6", "b5"]
        rest = await library.find(Query(sort=sort, cursor=page.next_cursor))
        assert [book.id for book in rest.items] == ["b4", "b3", "b2", "b1"]

    async def test_a_non_string_key_is_addressed_by_its_text(self) -> None:
        store = SQLiteReadModelStore(self.db, TICKETS)
        opened = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
        await store.upsert(Ticket(number=7, opened_at=opened))
        assert await store.get("7") == Ticket(number=7, opened_at=opened)
        later = datetime(2024, 6, 1, tzinfo=UTC)
        patched = await store.patch("7", {"opened_at": later, "title": "late"})
        assert patched == Ticket(number=7, opened_at=later, title="late")
        assert await store.count([Filter("opened_at", "gt", opened)]) == 1
        assert await store.delete("7") is True

    async def test_a_document_that_is_not_json_is_rejected_and_changes_nothing(
        self, library: ReadModelStore[Book]
    ) -> None:
        with pytest.raises(InvalidInputError):
            await library.patch("b1", {"rating": float("nan")})
        assert await library.get("b1") == LIBRARY_B1

    async def test_booleans_compare_and_sort_as_booleans(self) -> None:
        store = SQLiteReadModelStore(self.db, TASKS)
        for n, (done, flag) in enumerate([(True, None), (False, True), (True, False)], 1):
            await store.upsert(Task(id=n, done=done, flag=flag))
        assert await store.count([Filter("done", "eq", True)]) == 2
        assert await store.count([Filter("flag", "ne", False)]) == 2
        page = await store.find(Query(sort=(SortKey("flag", True),)))
        assert [task.id for task in page.items] == [2, 3, 1]


LIBRARY_B1 = Book(
    id="b1", title="Dune", author="Frank Herbert", year=1965, rating=4.5, tags=["scifi"]
)


class TestSQLiteQueriesMatchMemory(_Database):
    """Booleans, fields of mixed kinds and lists are queried exactly like the in-memory store."""

    @settings(
        max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        tasks=task_lists(12),
        filters=st.lists(task_filters(), max_size=2),
        sort=TASK_SORTS,
        limit=st.integers(1, 4),
    )
    async def test_find_and_count_agree_with_memory(
        self, tasks: list[Task], filters: list[Filter], sort: list[SortKey], limit: int
    ) -> None:
        await SQLiteReadModelStores(self.db).drop(TASKS)
        sqlite = SQLiteReadModelStore(self.db, TASKS)
        memory = InMemoryReadModelStore(TASKS)
        for task in tasks:
            await sqlite.upsert(task)
            await memory.upsert(task)
        query = Query(filters=tuple(filters), sort=tuple(sort), limit=limit)
        assert await paged_ids(sqlite, query) == await paged_ids(memory, query)
        assert await sqlite.count(filters) == await memory.count(filters)


async def _all_ids(store: ReadModelStore[Book]) -> Sequence[str]:
    return [book.id for book in (await store.find(Query())).items]


class TestSQLiteSpecifics(_Database):
    """Transactions shared with the checkpoint store, separate tables, durability, wiring."""

    in_file = True

    async def test_writes_in_a_transaction_that_fails_are_all_rolled_back(self) -> None:
        books = SQLiteReadModelStore(self.db, BOOKS)
        checkpoints = SQLiteCheckpointStore(self.db)
        await books.upsert(LIBRARY_B1)
        await checkpoints.save("books", 1)

        async def failing_batch() -> None:
            async with self.db.transaction():
                await books.upsert(Book(id="b2", title="Children of Dune", author="FH", year=1976))
                await books.patch("b1", {"year": 1966})
                await books.delete("b1")
                await checkpoints.save("books", 3)
                raise RuntimeError("handler failed")

        with pytest.raises(RuntimeError, match="handler failed"):
            await failing_batch()
        assert await _all_ids(books) == ["b1"]
        assert await books.get("b1") == LIBRARY_B1
        assert await checkpoints.load("books") == 1

    async def test_writes_in_a_transaction_commit_together(self) -> None:
        books = SQLiteReadModelStore(self.db, BOOKS)
        checkpoints = SQLiteCheckpointStore(self.db)
        async with self.db.transaction():
            await books.upsert(LIBRARY_B1)
            await checkpoints.save("books", 1)
        assert await _all_ids(books) == ["b1"]
        assert await checkpoints.load("books") == 1

    async def test_stores_of_one_spec_in_different_tables_are_independent(self) -> None:
        live = SQLiteReadModelStore(self.db, BOOKS)
        shadow = SQLiteReadModelStore(self.db, BOOKS, table="forze_rm_contract_books_v2")
        await live.upsert(LIBRARY_B1)
        await shadow.upsert(LIBRARY_B1.model_copy(update={"id": "b9"}))
        await shadow.delete("b1")
        assert await _all_ids(live) == ["b1"]
        assert await _all_ids(shadow) == ["b9"]

    def test_a_table_name_must_be_an_identifier(self) -> None:
        with pytest.raises(InvalidInputError, match="identifier"):
            SQLiteReadModelStore(self.db, BOOKS, table='x"; DROP TABLE y; --')

    async def test_indexed_fields_get_an_expression_index(self) -> None:
        SQLiteReadModelStore(self.db, BOOKS)
        rows = await self.db.read(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? ORDER BY name",
            ("forze_rm_contract_books",),
        )
        assert [name for (name,) in rows] == [
            f"forze_rm_contract_books__{field}" for field in ("author", "rating", "year")
        ]

    async def test_reopening_the_file_keeps_documents_and_checkpoints(self) -> None:
        await SQLiteReadModelStore(self.db, BOOKS).upsert(LIBRARY_B1)
        await SQLiteCheckpointStore(self.db).save("books", 5)
        self.db.close()
        self.db = SQLiteDatabase(self.db.path)
        assert await SQLiteReadModelStore(self.db, BOOKS).get("b1") == LIBRARY_B1
        assert await SQLiteCheckpointStore(self.db).load("books") == 5

    async def test_a_store_made_in_a_transaction_that_rolls_back_still_works(self) -> None:
        made: list[SQLiteReadModelStore[Book]] = []

        async def failing_batch() -> None:
            async with self.db.transaction():
                made.append(SQLiteReadModelStore(self.db, BOOKS))
                raise RuntimeError("rolled back")

        with pytest.raises(RuntimeError, match="rolled back"):
            await failing_batch()
        assert await self.db.read("SELECT name FROM sqlite_master WHERE type = 'table'") == [
            ("forze_migrations",)
        ]
        store = made[0]
        assert await store.get("b1") is None
        await store.upsert(LIBRARY_B1)
        assert await _all_ids(store) == ["b1"]

    def test_the_same_spec_always_gets_the_same_store(self) -> None:
        stores: ReadModelStores = SQLiteReadModelStores(self.db)
        assert stores(BOOKS) is stores(BOOKS)

    def test_another_spec_under_a_name_in_use_raises_wiring_error(self) -> None:
        stores = SQLiteReadModelStores(self.db)
        stores(BOOKS)
        with pytest.raises(WiringError, match="contract_books"):
            stores(ReadModelSpec(name="contract_books", model=Ticket, key="number"))

    async def test_drop_empties_a_table_and_its_stores_start_again(self) -> None:
        stores = SQLiteReadModelStores(self.db)
        shadow = SQLiteReadModelStore(self.db, BOOKS, table="books_shadow")
        await stores(BOOKS).upsert(LIBRARY_B1)
        await shadow.upsert(LIBRARY_B1)
        await stores.drop(BOOKS)
        assert await stores(BOOKS).count() == 0
        assert await _all_ids(shadow) == ["b1"]
        await stores.drop(BOOKS, table="books_shadow")
        assert await shadow.get("b1") is None
        await shadow.upsert(LIBRARY_B1)
        assert await shadow.count() == 1

    async def test_stores_can_be_made_while_a_statement_of_the_file_is_running(self) -> None:
        await SQLiteCheckpointStore(self.db).save("a", 1)
        running = self.db.connection.execute("SELECT name FROM forze_checkpoints")
        first = SQLiteReadModelStore(self.db, BOOKS)
        second = SQLiteReadModelStore(self.db, BOOKS, table="books_too")
        assert running.fetchall() == [("a",)]
        await first.upsert(LIBRARY_B1)
        assert [book.id for book in await second.search("dune")] == []
        assert [book.id for book in await first.search("dune")] == ["b1"]

    async def test_a_table_dropped_by_another_connection_is_made_again(self) -> None:
        store = SQLiteReadModelStore(self.db, BOOKS)
        await store.upsert(LIBRARY_B1)
        with SQLiteDatabase(self.db.path) as other:
            await SQLiteReadModelStores(other).drop(BOOKS)
        assert await store.count() == 0
        await store.upsert(LIBRARY_B1)
        assert await _all_ids(store) == ["b1"]
