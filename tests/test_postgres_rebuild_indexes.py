"""A rebuild on PostgreSQL writes its read models without their secondary indexes, and builds
them once, in the unit that reaches the head; a filtering query during the rebuild builds them
first. Readers of the live version, and every other layout, keep their indexes throughout."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from forze import NewEvent, ReadModelStores, RecordedEvent
from forze.contracts import Filter, Query
from forze_examples.bank.read_model import BALANCES, BALANCES_PROJECTION, AccountBalance
from forze_postgres import (
    PostgresDatabase,
    PostgresEventStore,
    PostgresProjectionBackend,
    PostgresReadModelStore,
)
from forze_postgres.adapter_kit import table_of
from forze_projections import Projection, Projector
from tests.postgres_support import fresh_schema

SECONDARY = {"balance", "search"}
"""The bank balances' secondary indexes (by field, after ``<table>__``)."""


async def _indexes(db: PostgresDatabase, version: int) -> set[str]:
    """The secondary indexes of version ``version`` of the balances read model."""
    table = table_of(BALANCES, version)
    async with db.connection() as connection:
        rows = await connection.fetch(
            "SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2",
            db.schema,
            table,
        )
    return {row[0].removeprefix(f"{table}__") for row in rows} & SECONDARY


@asynccontextmanager
async def _bank(
    dsn: str, *, tenant: str | None = None
) -> AsyncIterator[tuple[PostgresDatabase, PostgresEventStore, PostgresProjectionBackend]]:
    async with fresh_schema(dsn) as shared:
        db = shared if tenant is None else shared.for_tenant(tenant)
        store = PostgresEventStore(db)
        await store.migrate()
        for n in range(3):
            stream = f"account-a{n}"
            await store.append(
                stream,
                [NewEvent("AccountOpened", {"owner": f"owner {n}", "overdraft_limit": 0})],
                0,
            )
            for amount in (10, 20, 30):
                await store.append(stream, [NewEvent("MoneyDeposited", {"amount": amount})])
        try:
            yield db, store, PostgresProjectionBackend(db)
        finally:
            await store.close()


def _watching(
    db: PostgresDatabase, version: int, seen: list[set[str]], *, query: bool = False
) -> Projection:
    """The balances projection at ``version``, noting the table's secondary indexes at each
    deposit it applies (``query``: after a filtering query of its own read model)."""
    credit = BALANCES_PROJECTION.handlers["MoneyDeposited"]

    async def noting(event: RecordedEvent, read_models: ReadModelStores) -> None:
        if query:
            await read_models(BALANCES).find(Query(filters=(Filter("balance", "ge", 0),)))
        seen.append(await _indexes(db, version))
        await credit(event, read_models)

    handlers = {**BALANCES_PROJECTION.handlers, "MoneyDeposited": noting}
    return dataclasses.replace(BALANCES_PROJECTION, version=version, handlers=handlers)


async def _rich(backend: PostgresProjectionBackend) -> list[str]:
    page = await backend.serving()(BALANCES).find(Query(filters=(Filter("balance", "ge", 60),)))
    return [balance.account_id for balance in page.items]


async def test_a_new_version_is_built_without_secondary_indexes_until_it_reaches_the_head(
    postgres_dsn: str,
) -> None:
    async with _bank(postgres_dsn) as (db, store, backend):
        await Projector(store, backend, [BALANCES_PROJECTION], batch_size=2).catch_up()
        assert await _indexes(db, 1) == SECONDARY
        seen: list[set[str]] = []
        rebuilt = _watching(db, 2, seen)
        await Projector(store, backend, [rebuilt], batch_size=2).catch_up()
        assert seen
        assert all(found == set() for found in seen)
        assert await backend.live_version(BALANCES_PROJECTION.name) == 2
        assert await _indexes(db, 2) == SECONDARY
        assert await _indexes(db, 1) == SECONDARY
        assert await _rich(backend) == ["a0", "a1", "a2"]


async def test_rebuilding_the_live_version_in_place_builds_its_indexes_at_the_head(
    postgres_dsn: str,
) -> None:
    async with _bank(postgres_dsn) as (db, store, backend):
        seen: list[set[str]] = []
        projection = _watching(db, 1, seen)
        await Projector(store, backend, [projection], batch_size=2).catch_up()
        assert seen
        assert all(found == SECONDARY for found in seen)
        seen.clear()
        await Projector(store, backend, [projection], batch_size=2).rebuild(projection.name)
        assert seen
        assert all(found == set() for found in seen)
        assert await _indexes(db, 1) == SECONDARY
        assert await _rich(backend) == ["a0", "a1", "a2"]


async def test_a_filtering_query_during_a_rebuild_builds_the_indexes_first(
    postgres_dsn: str,
) -> None:
    async with _bank(postgres_dsn) as (db, store, backend):
        await Projector(store, backend, [BALANCES_PROJECTION]).catch_up()
        seen: list[set[str]] = []
        rebuilt = _watching(db, 2, seen, query=True)
        await Projector(store, backend, [rebuilt], batch_size=2).catch_up()
        assert seen
        assert all(found == SECONDARY for found in seen)
        stored = await backend.serving()(BALANCES).get("a1")
        assert stored == AccountBalance(
            account_id="a1", owner="owner 1", balance=60, transactions=3, version=4
        )


async def test_the_tenant_column_layout_keeps_every_index_through_a_rebuild(
    postgres_dsn: str,
) -> None:
    async with _bank(postgres_dsn, tenant="acme") as (db, store, backend):
        await Projector(store, backend, [BALANCES_PROJECTION]).catch_up()
        seen: list[set[str]] = []
        rebuilt = _watching(db, 2, seen)
        await Projector(store, backend, [rebuilt], batch_size=2).catch_up()
        assert seen
        assert all(found == SECONDARY for found in seen)
        assert await _rich(backend) == ["a0", "a1", "a2"]


async def test_racing_builders_of_one_tables_indexes_take_turns(postgres_dsn: str) -> None:
    async with fresh_schema(postgres_dsn, max_size=8) as db:
        for version in range(1, 6):  # a few tables: the race is not won every time
            table = table_of(BALANCES, version)

            def deferred(table: str = table) -> PostgresReadModelStore[AccountBalance]:
                return PostgresReadModelStore(db, BALANCES, table=table, deferred_indexes=True)

            await deferred().upsert(AccountBalance(account_id="a0", owner="owner 0"))
            assert await _indexes(db, version) == set()
            await asyncio.gather(*(deferred().build_indexes() for _ in range(6)))
            assert await _indexes(db, version) == SECONDARY
