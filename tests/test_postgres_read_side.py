"""The PostgreSQL read side passes the checkpoint, read-model, snapshot and projector suites
against a real server (each test in a fresh schema), plus PostgreSQL specifics."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forze.contracts import (
    CheckpointStore,
    EventStore,
    Filter,
    Query,
    ReadModelSpec,
    ReadModelStore,
    Snapshot,
    SnapshotStore,
    SortKey,
)
from forze.domain.errors import InvalidInputError, WiringError
from forze_eventstore import InMemoryEventStore
from forze_eventstore.testing.snapshots import SnapshotStoreContract
from forze_postgres import PostgresDatabase
from forze_postgres._pg_fields import Params
from forze_postgres._pg_query import QueryBuilder, table_name
from forze_postgres.checkpoints import PostgresCheckpointStore
from forze_postgres.projections import PostgresProjectionBackend
from forze_postgres.read_models import PostgresReadModelStore, PostgresReadModelStores
from forze_postgres.snapshots import PostgresSnapshotStore
from forze_projections import ProjectionBackend
from forze_projections.memory import InMemoryReadModelStore
from forze_projections.testing import (
    BOOKS,
    TALLIES,
    Book,
    CheckpointStoreContract,
    ProjectorContract,
    ReadModelStoreContract,
    Tally,
)
from tests.postgres_support import fresh_schema
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


class _Schema:
    """Gives each test a database in a fresh schema, as ``self.db``."""

    db: PostgresDatabase

    @pytest.fixture(autouse=True)
    async def _database(self, postgres_dsn: str) -> AsyncIterator[None]:
        self.dsn = postgres_dsn
        async with fresh_schema(postgres_dsn) as db:
            self.db = db
            yield


class _Dsn:
    """Keeps the session's DSN for suites that open their own schemas."""

    @pytest.fixture(autouse=True)
    def _dsn(self, postgres_dsn: str) -> None:
        self.dsn = postgres_dsn


class TestPostgresCheckpointStore(_Schema, CheckpointStoreContract):
    """The contract, plus the input check and the listing of every checkpoint."""

    def make_checkpoints(self) -> CheckpointStore:
        return PostgresCheckpointStore(self.db)

    async def test_a_negative_position_is_rejected(self) -> None:
        store = PostgresCheckpointStore(self.db)
        with pytest.raises(InvalidInputError):
            await store.save("relay", -1)
        assert await store.load("relay") == 0

    async def test_all_lists_every_checkpoint(self) -> None:
        store = PostgresCheckpointStore(self.db)
        assert await store.all() == {}
        for name, position in [("relay", 4), ("orders", 9), ("Zed", 1), ("audit", 0)]:
            await store.save(name, position)
        await store.reset("relay")
        assert list((await store.all()).items()) == [("Zed", 1), ("audit", 0), ("orders", 9)]


class TestPostgresReadModelStore(_Schema, ReadModelStoreContract):
    """The contract, plus search, cursor and value handling."""

    def make_store(self, spec: ReadModelSpec[Book]) -> ReadModelStore[Book]:
        return PostgresReadModelStore(self.db, spec)

    async def test_a_table_with_the_former_generated_search_column_is_searched_and_written(
        self,
    ) -> None:
        quoted = self.db.table(table_name(BOOKS))
        former = (
            "(CASE WHEN jsonb_typeof(doc->'{0}') IN ('string', 'array') THEN"
            " jsonb_to_tsvector('simple'::regconfig, doc->'{0}', '[\"string\"]')"
            " ELSE ''::tsvector END)"
        )
        async with self.db.connection() as connection:
            await connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.db.schema}"')
            await connection.execute(
                f'CREATE TABLE {quoted} (key TEXT COLLATE "C" PRIMARY KEY, doc JSONB NOT NULL,'
                " search tsvector GENERATED ALWAYS AS"
                f" ({former.format('title')} || {former.format('author')}) STORED)"
            )
            await connection.execute(
                f"INSERT INTO {quoted} (key, doc) VALUES ('b1', $1::jsonb)", DUNE.model_dump_json()
            )
        store = PostgresReadModelStore(self.db, BOOKS)
        assert [book.id for book in await store.search("dun herb")] == ["b1"]
        await store.upsert(GIBSON)
        await store.patch("b1", {"title": "Dune Messiah"})
        assert [book.id for book in await store.search("messiah")] == ["b1"]
        assert [book.id for book in await store.search("neuro")] == ["b3"]

    async def test_a_cursor_only_resumes_the_sort_it_came_from(
        self, library: ReadModelStore[Book]
    ) -> None:
        page = await library.find(Query(sort=(SortKey("year"),), limit=2))
        assert page.next_cursor is not None
        with pytest.raises(InvalidInputError, match="different sort"):
            await library.find(Query(sort=(SortKey("year", True),), cursor=page.next_cursor))
        forged = base64.urlsafe_b64encode(b'{"sort": [["id", false]], "values": [7]}').decode()
        with pytest.raises(InvalidInputError):
            await library.find(Query(cursor=forged))

    async def test_filter_values_are_read_as_the_fields_type(
        self, library: ReadModelStore[Book]
    ) -> None:
        assert await library.count([Filter("year", "eq", "1984")]) == 1
        assert await library.count([Filter("year", "in", ["1984", 1965])]) == 2
        assert await library.count([Filter("rating", "in", [None, 4.1])]) == 3
        for bad in [Filter("year", "eq", "soon"), Filter("year", "in", "1984")]:
            with pytest.raises(InvalidInputError):
                await library.count([bad])

    async def test_a_non_string_key_is_addressed_by_its_text(self) -> None:
        store = PostgresReadModelStore(self.db, TICKETS)
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

    async def test_a_document_that_is_not_storable_is_rejected_and_changes_nothing(
        self, library: ReadModelStore[Book]
    ) -> None:
        with pytest.raises(InvalidInputError):
            await library.patch("b1", {"rating": float("nan")})
        with pytest.raises(InvalidInputError):
            await library.upsert(DUNE.model_copy(update={"title": "nul \x00"}))
        assert await library.get("b1") == DUNE

    def test_a_table_name_must_be_a_short_identifier(self) -> None:
        for bad in ['x"; DROP TABLE y; --', "t" * 64]:
            with pytest.raises(InvalidInputError, match="identifier"):
                PostgresReadModelStore(self.db, BOOKS, table=bad)


class TestPostgresQueriesMatchMemory(_Schema):
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
        await PostgresReadModelStores(self.db).drop(TASKS)
        postgres = PostgresReadModelStore(self.db, TASKS)
        memory = InMemoryReadModelStore(TASKS)
        await postgres.upsert_many(tasks)
        await memory.upsert_many(tasks)
        query = Query(filters=tuple(filters), sort=tuple(sort), limit=limit)
        assert await paged_ids(postgres, query) == await paged_ids(memory, query)
        assert await postgres.count(filters) == await memory.count(filters)


class TestPostgresSnapshotStore(_Dsn, SnapshotStoreContract):
    """The contract; each store in a fresh schema."""

    @asynccontextmanager
    async def open_snapshots(self) -> AsyncIterator[SnapshotStore]:
        async with fresh_schema(self.dsn) as db:
            yield PostgresSnapshotStore(db)


class TestPostgresProjectionBackend(_Dsn, ProjectorContract):
    """The projector contract; events in memory, projections in a fresh schema."""

    @asynccontextmanager
    async def open_backend(self) -> AsyncIterator[tuple[EventStore, ProjectionBackend]]:
        async with fresh_schema(self.dsn) as db:
            yield InMemoryEventStore(poll_interval=0.02), PostgresProjectionBackend(db)


async def _keys(store: ReadModelStore[Book]) -> list[str]:
    return [book.id for book in (await store.find(Query())).items]


class TestPostgresSpecifics(_Schema):
    """Transactions shared with checkpoints, tenancy by schema, indexes, lazy tables."""

    async def test_writes_and_checkpoint_in_a_failing_transaction_are_rolled_back(self) -> None:
        books = PostgresReadModelStore(self.db, BOOKS)
        checkpoints = PostgresCheckpointStore(self.db)
        await books.upsert(DUNE)
        await checkpoints.save("books", 1)

        async def failing_batch() -> None:
            async with self.db.transaction():
                await books.upsert_many([GIBSON, DUNE.model_copy(update={"id": "b2"})])
                await books.patch("b1", {"year": 1966})
                await books.delete("b1")
                await checkpoints.save("books", 3)
                assert await checkpoints.load("books") == 3
                assert await _keys(books) == ["b2", "b3"]
                raise RuntimeError("handler failed")

        with pytest.raises(RuntimeError, match="handler failed"):
            await failing_batch()
        assert await _keys(books) == ["b1"]
        assert await books.get("b1") == DUNE
        assert await checkpoints.load("books") == 1

    async def test_stores_first_used_in_a_transaction_that_rolls_back_recover(self) -> None:
        books = PostgresReadModelStore(self.db, BOOKS)
        checkpoints = PostgresCheckpointStore(self.db)
        snapshots = PostgresSnapshotStore(self.db)

        async def failing_batch() -> None:
            async with self.db.transaction():
                await books.upsert(DUNE)
                await checkpoints.save("books", 1)
                await snapshots.save(Snapshot("s-1", 1, 1, {"n": 1}))
                raise RuntimeError("rolled back")

        with pytest.raises(RuntimeError, match="rolled back"):
            await failing_batch()
        async with self.db.connection() as connection:
            schema = f'"{self.db.schema}"'
            assert await connection.fetchval("SELECT to_regnamespace($1)", schema) is None
        async with self.db.transaction():
            assert await books.get("b1") is None
            await books.upsert(DUNE)
            await checkpoints.save("books", 2)
        assert (await _keys(books), await checkpoints.load("books")) == (["b1"], 2)
        assert await snapshots.load("s-1") is None

    async def test_schemas_are_isolated_tenants(self) -> None:
        async with fresh_schema(self.dsn) as other:
            for db, book, position in [(self.db, DUNE, 5), (other, GIBSON, 9)]:
                await PostgresReadModelStores(db)(BOOKS).upsert(book)
                await PostgresCheckpointStore(db).save("books", position)
            await PostgresReadModelStores(other).drop(BOOKS)
            assert await _keys(PostgresReadModelStore(self.db, BOOKS)) == ["b1"]
            assert await PostgresReadModelStore(other, BOOKS).count() == 0
            assert await PostgresCheckpointStore(self.db).all() == {"books": 5}
            assert await PostgresCheckpointStore(other).all() == {"books": 9}

    async def test_equality_and_search_use_the_indexes(self) -> None:
        store = PostgresReadModelStore(self.db, BOOKS)
        await store.upsert_many([DUNE, GIBSON])
        queries = QueryBuilder(BOOKS)
        cases = [
            ([Filter("author", "eq", "William Gibson")], "forze_rm_contract_books__author"),
            ([Filter("year", "eq", "1984")], "forze_rm_contract_books__year"),
        ]
        async with self.db.transaction() as connection:
            await connection.execute("SET LOCAL enable_seqscan = off")
            for filters, index in cases:
                params = Params()
                where = queries.where(filters, params)
                plan = await connection.fetch(
                    f"EXPLAIN SELECT doc FROM {self.db.table(store.table)} WHERE {where}",
                    *params.values,
                )
                assert index in "\n".join(row[0] for row in plan)
            assert [b.id for b in await store.search("neuro")] == ["b3"]
            assert await store.count([Filter("author", "eq", "William Gibson")]) == 1
            scans = {
                name: await connection.fetchval(
                    "SELECT pg_stat_get_xact_numscans(to_regclass($1))", self.db.table(name)
                )
                for name in ("forze_rm_contract_books__author", "forze_rm_contract_books__search")
            }
        assert all(count > 0 for count in scans.values()), scans

    async def test_a_table_dropped_elsewhere_is_made_again_and_first_uses_may_race(
        self,
    ) -> None:
        stores = PostgresReadModelStores(self.db)
        shadow = PostgresReadModelStore(self.db, BOOKS, table="books_shadow")
        first = [PostgresReadModelStore(self.db, BOOKS) for _ in range(6)]
        await asyncio.gather(*(s.upsert(b) for s, b in zip(first, [DUNE, GIBSON] * 3, strict=True)))
        await shadow.upsert(DUNE)
        await stores.drop(BOOKS)
        assert await first[0].count() == 0
        await first[1].upsert(GIBSON)
        assert await _keys(first[2]) == ["b3"]
        assert await _keys(shadow) == ["b1"]
        assert stores(BOOKS) is stores(BOOKS)
        with pytest.raises(WiringError, match="contract_books"):
            stores(ReadModelSpec(name="contract_books", model=Ticket, key="number"))

    async def test_backend_savepoints_serving_and_failures(self) -> None:
        backend = PostgresProjectionBackend(self.db)
        backend.claim("tallies", [TALLIES])
        assert await backend.serving()(TALLIES).count() == 0  # nothing yet, not an error
        with pytest.raises(InvalidInputError, match="savepoint"):
            async with backend.savepoint():
                pass
        writer = backend.writer("tallies", 1)

        async def undone(document: Tally) -> None:
            async with backend.savepoint():
                await writer(TALLIES).upsert(Tally(id="gone"))
                await writer(TALLIES).upsert(document)
                raise RuntimeError("undo the table too")

        async with backend.unit():
            with pytest.raises(RuntimeError, match="undo"):
                await undone(Tally(id="also gone"))
            with pytest.raises(InvalidInputError):  # PostgreSQL refuses it: the unit goes on
                await undone(Tally(id="nul \x00"))
            await writer(TALLIES).upsert(Tally(id="kept", count=2))
            await backend.set_live("tallies", 1)
        assert [t.id for t in (await backend.serving()(TALLIES).find(Query())).items] == ["kept"]
        assert await backend.serving()(TALLIES).get("kept") == Tally(id="kept", count=2)
        assert await backend.live_version("tallies") == 1
