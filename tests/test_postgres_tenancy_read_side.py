"""The PostgreSQL read side in the tenant-column layout: the checkpoint, read-model, snapshot
and projector suites run as tenant ``t1`` of a schema whose tables also hold tenant ``t2``'s
rows under the same keys and names (checked untouched after every test), plus behaviour of
the layout itself."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest

from forze.contracts import (
    CheckpointStore,
    EventStore,
    Filter,
    NewEvent,
    Query,
    ReadModelSpec,
    ReadModelStore,
    Snapshot,
    SnapshotStore,
    SortKey,
)
from forze.domain.errors import InvalidInputError
from forze_eventstore import InMemoryEventStore
from forze_eventstore.testing.snapshots import SnapshotStoreContract
from forze_postgres import (
    PostgresCheckpointStore,
    PostgresDatabase,
    PostgresEventStore,
    PostgresProjectionBackend,
    PostgresReadModelStore,
    PostgresReadModelStores,
    PostgresSnapshotStore,
)
from forze_postgres._pg_fields import Params
from forze_postgres._pg_query import QueryBuilder
from forze_projections import ProjectionBackend, Projector
from forze_projections.errors import ProjectionFailure
from forze_projections.testing import (
    BOOKS,
    TALLIES,
    Book,
    CheckpointStoreContract,
    ProjectorContract,
    ReadModelStoreContract,
    Tally,
)
from forze_projections.testing.projector_support import MIRROR, append, documents, fold, numbered
from forze_projections.testing.projector_support import tallies as tally_projection
from tests.postgres_support import fresh_schema

FAR = 10**15
"""A position beyond any feed of a test: a leaked checkpoint would hide every event."""

T2_CHECKPOINTS = {"orders_projection": FAR, "relay": FAR, "a": 1, "b": 2}

T2_BOOKS = [
    Book(id="b0", title="Foundation and Dune", author="Isaac Asimov", year=1951),
    Book(id="b1", title="Dune", author="Frank Herbert", year=1966, tags=["t2"]),
    Book(id="b2", title="Children of Dune", author="Frank Herbert", year=1977),
    Book(id="b3", title="Neuromancer", author="William Gibson", year=1985, rating=1.0),
    Book(id="b4", title="Count Zero", author="William Gibson", year=1987, rating=2.0),
    Book(id="b7", title="Dune Messiah", author="Frank Herbert", year=1969, rating=4.0),
]
"""Tenant t2's books: t1's keys with other values, and matches of t1's searches."""

T2_SNAPSHOTS = [Snapshot("s-1", 100, 9, {"t2": True}), Snapshot("s-2", 100, 9, {"t2": True})]

T2_TALLIES = [Tally(id=f"tally-{n}", count=FAR, total=-1) for n in range(4)]
"""Tenant t2's documents in every table the projector suite uses, under its keys."""


async def _books(db: PostgresDatabase) -> list[Book]:
    return list((await PostgresReadModelStore(db, BOOKS).find(Query(limit=100))).items)


class _Tenants:
    """Each test runs as tenant ``t1`` of a fresh schema seeded with tenant ``t2``'s rows."""

    base: PostgresDatabase
    t1: PostgresDatabase
    t2: PostgresDatabase

    async def seed(self) -> None:
        """Write tenant ``t2``'s rows."""

    async def check(self) -> None:
        """Assert tenant ``t2``'s rows are as seeded."""

    @pytest.fixture(autouse=True)
    async def _tenants(self, postgres_dsn: str) -> AsyncIterator[None]:
        self.dsn = postgres_dsn
        async with fresh_schema(postgres_dsn) as base:
            self.base, self.t1, self.t2 = base, base.for_tenant("t1"), base.for_tenant("t2")
            await self.seed()
            yield
            await self.check()


class TestTenantCheckpointStore(_Tenants, CheckpointStoreContract):
    """The contract as t1, beside t2's checkpoints of the same names."""

    async def seed(self) -> None:
        store = PostgresCheckpointStore(self.t2)
        for name, position in T2_CHECKPOINTS.items():
            await store.save(name, position)

    async def check(self) -> None:
        assert await PostgresCheckpointStore(self.t2).all() == dict(sorted(T2_CHECKPOINTS.items()))

    def make_checkpoints(self) -> CheckpointStore:
        return PostgresCheckpointStore(self.t1)


class TestTenantReadModelStore(_Tenants, ReadModelStoreContract):
    """The contract as t1, beside t2's books under the same keys."""

    async def seed(self) -> None:
        await PostgresReadModelStore(self.t2, BOOKS).upsert_many(T2_BOOKS)

    async def check(self) -> None:
        assert await _books(self.t2) == T2_BOOKS

    def make_store(self, spec: ReadModelSpec[Book]) -> ReadModelStore[Book]:
        return PostgresReadModelStore(self.t1, spec)


class TestTenantSnapshotStore(_Tenants, SnapshotStoreContract):
    """The contract as t1, beside t2's newer snapshots of the same streams."""

    @asynccontextmanager
    async def open_snapshots(self) -> AsyncIterator[SnapshotStore]:
        async with fresh_schema(self.dsn) as base:
            theirs = PostgresSnapshotStore(base.for_tenant("t2"))
            for snapshot in T2_SNAPSHOTS:
                await theirs.save(snapshot)
            yield PostgresSnapshotStore(base.for_tenant("t1"))
            assert [await theirs.load(s.stream_id) for s in T2_SNAPSHOTS] == T2_SNAPSHOTS


_T2_PROJECTIONS = [("tallies", TALLIES), ("mirror", MIRROR), ("removals", MIRROR)]


async def _seed_projections(db: PostgresDatabase) -> PostgresProjectionBackend:
    """Tenant ``db.tenant`` with live versions, documents, checkpoints and a failure under
    the names and keys the projector suite uses."""
    for name, spec in _T2_PROJECTIONS:
        backend = PostgresProjectionBackend(db)  # "mirror" and "removals" both claim MIRROR
        backend.claim(name, [spec])
        async with backend.unit():
            for version in (1, 2):
                await backend.writer(name, version)(spec).upsert_many(T2_TALLIES)
                await backend.checkpoints.save(f"{name}@v{version}", FAR)
            await backend.set_live(name, 1)
    failure = ProjectionFailure("tallies", FAR, "Added", "tally-1", "t2's", datetime.now(UTC))
    await backend.record_failure(failure)
    return backend


async def _check_projections(backend: PostgresProjectionBackend) -> None:
    for name, spec in _T2_PROJECTIONS:
        assert await backend.live_version(name) == 1
        for version in (1, 2):
            assert await backend.checkpoints.load(f"{name}@v{version}") == FAR
            found = await backend.store(spec, version).find(Query(limit=100))
            assert list(found.items) == T2_TALLIES
    assert [f.error for f in await backend.failures("tallies")] == ["t2's"]


class TestTenantProjector(ProjectorContract):
    """The projector contract as t1 (events in a schema of their own, without a tenant),
    beside t2's live versions, documents, checkpoints and failures of the same names."""

    @pytest.fixture(autouse=True)
    def _dsn(self, postgres_dsn: str) -> None:
        self.dsn = postgres_dsn

    @asynccontextmanager
    async def open_backend(self) -> AsyncIterator[tuple[EventStore, ProjectionBackend]]:
        async with fresh_schema(self.dsn) as events_db, fresh_schema(self.dsn) as base:
            theirs = await _seed_projections(base.for_tenant("t2"))
            events = PostgresEventStore(events_db, poll_interval=0.02)
            await events.migrate()
            try:
                yield events, PostgresProjectionBackend(base.for_tenant("t1"))
            finally:
                await events.close()
            await _check_projections(theirs)


class TestTenantProjectorOnATenantFeed(ProjectorContract):
    """The projector contract entirely in one schema as t1: t1's events, read models and
    checkpoints, beside t2's events and projections of the same names."""

    @pytest.fixture(autouse=True)
    def _dsn(self, postgres_dsn: str) -> None:
        self.dsn = postgres_dsn

    @asynccontextmanager
    async def open_backend(self) -> AsyncIterator[tuple[EventStore, ProjectionBackend]]:
        async with fresh_schema(self.dsn) as base:
            theirs = await _seed_projections(base.for_tenant("t2"))
            events = PostgresEventStore(base.for_tenant("t1"), poll_interval=0.02)
            await events.migrate()
            noise = PostgresEventStore(base.for_tenant("t2"))
            await noise.append("tally-1", [NewEvent("Added", {"amount": 1000, "seq": 1})])
            try:
                yield events, PostgresProjectionBackend(base.for_tenant("t1"))
            finally:
                await events.close()
                await noise.close()
            await _check_projections(theirs)


def _book(key: str, title: str, year: int) -> Book:
    return Book(id=key, title=title, author="Ann Author", year=year)


class TestTenantColumnLayout(_Tenants):
    """Tenants of one schema share its tables and nothing else."""

    async def test_the_same_key_in_two_tenants_is_two_documents(self) -> None:
        mine, theirs = (
            PostgresReadModelStore(self.t1, BOOKS),
            PostgresReadModelStore(self.t2, BOOKS),
        )
        await mine.upsert(_book("k", "Mine", 2001))
        await theirs.upsert(_book("k", "Theirs", 2002))
        await mine.patch("k", {"year": 2011})
        assert await mine.get("k") == _book("k", "Mine", 2011)
        assert await theirs.get_many(["k"]) == [_book("k", "Theirs", 2002)]
        assert await theirs.delete("k") is True
        assert await theirs.get("k") is None
        assert await mine.get("k") == _book("k", "Mine", 2011)
        await theirs.write_documents([_book("k", "Bulk", 2003).model_dump(mode="json")])
        await mine.delete_many(["k"])
        assert (await mine.get("k"), await theirs.get("k")) == (None, _book("k", "Bulk", 2003))

    async def test_find_count_search_and_paging_never_return_another_tenants_documents(
        self,
    ) -> None:
        mine, theirs = (
            PostgresReadModelStore(self.t1, BOOKS),
            PostgresReadModelStore(self.t2, BOOKS),
        )
        await mine.upsert_many([_book(f"m{n}", f"Common title {n}", 2000 + n) for n in range(5)])
        await theirs.upsert_many([_book(f"m{n}", f"Common title {n}", 2000 + n) for n in range(9)])
        assert await mine.count() == 5
        assert await mine.count([Filter("year", "ge", 2003)]) == 2
        assert [b.id for b in await mine.search("common", limit=50)] == [f"m{n}" for n in range(5)]
        keys: list[str] = []
        cursor: str | None = None
        while True:
            page = await mine.find(Query(sort=(SortKey("year", True),), limit=2, cursor=cursor))
            keys += [b.id for b in page.items]
            if (cursor := page.next_cursor) is None:
                break
        assert keys == [f"m{n}" for n in reversed(range(5))]
        assert await theirs.count() == 9

    async def test_indexes_and_primary_key_lead_with_the_tenant(self) -> None:
        store = PostgresReadModelStore(self.t1, BOOKS)
        await store.upsert(_book("k", "Mine", 2001))
        async with self.base.connection() as connection:
            rows = await connection.fetch(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1"
                " AND tablename = 'forze_rm_contract_books'",
                self.base.schema,
            )
        indexes = dict(rows)
        assert len(indexes) == 5  # the primary key, author, year, rating and search
        for name, definition in indexes.items():
            if not name.endswith("__search"):
                assert "(tenant, " in definition, definition
        params = Params()
        tenant = params.add("t1", "text")
        where = QueryBuilder(BOOKS).where([Filter("author", "eq", "Ann Author")], params)
        async with self.t1.transaction() as connection:
            await connection.execute("SET LOCAL enable_seqscan = off")
            plan = await connection.fetch(
                f"EXPLAIN SELECT doc FROM {self.base.table(store.table)}"
                f" WHERE tenant = {tenant} AND {where}",
                *params.values,
            )
        assert "forze_rm_contract_books__author" in "\n".join(row[0] for row in plan)

    async def test_checkpoints_and_snapshots_of_the_same_name_are_independent_per_tenant(
        self,
    ) -> None:
        for db, position in [(self.t1, 5), (self.t2, 9)]:
            await PostgresCheckpointStore(db).save("relay", position)
            await PostgresSnapshotStore(db).save(Snapshot("s-1", position, 1, {"n": position}))
        await PostgresCheckpointStore(self.t2).reset("relay")
        await PostgresSnapshotStore(self.t1).delete("s-1")
        assert await PostgresCheckpointStore(self.t1).all() == {"relay": 5}
        assert await PostgresCheckpointStore(self.t2).load("relay") == 0
        assert await PostgresSnapshotStore(self.t1).load("s-1") is None
        assert await PostgresSnapshotStore(self.t2).load("s-1") == Snapshot("s-1", 9, 1, {"n": 9})

    async def test_resetting_and_rebuilding_one_tenants_projection_leaves_the_others_serving(
        self,
    ) -> None:
        events = InMemoryEventStore()
        feed = await append(events, *numbered(6))
        mine, theirs = PostgresProjectionBackend(self.t1), PostgresProjectionBackend(self.t2)
        await Projector(events, theirs, [tally_projection()]).catch_up()
        ours = Projector(events, mine, [tally_projection()])
        await ours.catch_up()
        await ours.reset("tallies")
        assert await documents(mine.serving()) == []
        assert await documents(theirs.serving()) == fold(feed)
        await ours.rebuild("tallies")
        await Projector(events, mine, [tally_projection(version=2, factor=10)]).catch_up()
        await Projector(events, mine, [tally_projection(version=2, factor=10)]).reset("tallies")
        await Projector(events, mine, [tally_projection(version=2, factor=10)]).catch_up()
        assert (await mine.live_version("tallies"), await theirs.live_version("tallies")) == (2, 1)
        assert await documents(mine.serving()) == fold(feed, factor=10)
        assert await documents(theirs.serving()) == fold(feed)
        assert await theirs.checkpoints.load("tallies@v1") == feed[-1].position
        await PostgresReadModelStores(self.t1).drop(TALLIES, "forze_rm_contract_tallies_v1")
        assert await documents(theirs.serving()) == fold(feed)

    async def test_failures_are_recorded_per_tenant(self) -> None:
        at = datetime(2024, 1, 1, tzinfo=UTC)
        mine, theirs = PostgresProjectionBackend(self.t1), PostgresProjectionBackend(self.t2)
        await theirs.record_failure(ProjectionFailure("tallies", 3, "Added", "s-1", "boom", at))
        assert await mine.failures("tallies") == []
        assert [f.error for f in await theirs.failures("tallies")] == ["boom"]

    async def test_a_tenant_view_joins_the_tasks_transaction(self) -> None:
        async def failing() -> None:
            async with self.base.transaction():
                await PostgresCheckpointStore(self.t1).save("relay", 3)
                await PostgresReadModelStore(self.t2, BOOKS).upsert(_book("k", "Gone", 2000))
                raise RuntimeError("rolled back")

        with pytest.raises(RuntimeError, match="rolled back"):
            await failing()
        assert await PostgresCheckpointStore(self.t1).load("relay") == 0
        assert await PostgresReadModelStore(self.t2, BOOKS).get("k") is None


def _first_uses(db: PostgresDatabase) -> list[Callable[[], Awaitable[object]]]:
    """A first read of each store and of the projection backend on ``db``."""
    return [
        lambda: PostgresCheckpointStore(db).load("relay"),
        lambda: PostgresSnapshotStore(db).load("s-1"),
        lambda: PostgresProjectionBackend(db).live_version("tallies"),
        lambda: PostgresReadModelStore(db, BOOKS).count(),
    ]


class TestLayoutMismatch:
    """A schema keeps the tenancy layout it was created with."""

    @pytest.fixture(autouse=True)
    async def _schema(self, postgres_dsn: str) -> AsyncIterator[None]:
        async with fresh_schema(postgres_dsn) as db:
            self.db = db
            yield

    async def test_a_tenant_column_schema_opened_without_a_tenant_is_refused(self) -> None:
        tenant = self.db.for_tenant("t1")
        await PostgresCheckpointStore(tenant).save("relay", 1)
        await PostgresSnapshotStore(tenant).save(Snapshot("s-1", 1, 1, {}))
        await PostgresProjectionBackend(tenant).prepare()
        await PostgresReadModelStore(tenant, BOOKS).count()
        for refused in _first_uses(self.db):
            with pytest.raises(InvalidInputError, match="with a tenant column"):
                await refused()

    async def test_a_schema_without_tenant_column_opened_with_a_tenant_is_refused(self) -> None:
        await PostgresCheckpointStore(self.db).save("relay", 1)
        await PostgresSnapshotStore(self.db).save(Snapshot("s-1", 1, 1, {}))
        await PostgresProjectionBackend(self.db).prepare()
        await PostgresReadModelStore(self.db, BOOKS).count()
        for refused in _first_uses(self.db.for_tenant("t1")):
            with pytest.raises(InvalidInputError, match="without a tenant column"):
                await refused()

    async def test_the_layout_is_checked_inside_a_transaction_too(self) -> None:
        await PostgresCheckpointStore(self.db).save("relay", 1)
        tenant = self.db.for_tenant("t1")
        with pytest.raises(InvalidInputError, match="without a tenant column"):
            async with tenant.transaction():
                await PostgresCheckpointStore(tenant).load("relay")
        assert await PostgresCheckpointStore(self.db).load("relay") == 1

    @pytest.mark.parametrize("bad", ["", "t\x00"])
    def test_an_empty_or_nul_tenant_is_refused(self, bad: str) -> None:
        with pytest.raises(InvalidInputError, match="tenant"):
            self.db.for_tenant(bad)
        with pytest.raises(InvalidInputError, match="tenant"):
            PostgresDatabase(self.db.pool, schema=self.db.schema, tenant=bad)
