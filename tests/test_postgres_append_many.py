"""PostgresEventStore.append_many: several streams in one statement, all or nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

from forze import ConcurrencyError, DuplicateEventIdError, InvalidInputError
from forze.contracts import ExpectedVersion, NewEvent
from forze_postgres import PostgresDatabase, PostgresEventStore
from tests.postgres_support import fresh_schema


@asynccontextmanager
async def opened(dsn: str) -> AsyncIterator[PostgresEventStore]:
    async with fresh_schema(dsn) as db:
        store = PostgresEventStore(db)
        await store.migrate()
        try:
            yield store
        finally:
            await store.close()


def _events(*names: str) -> list[NewEvent]:
    return [NewEvent(name, {"name": name}) for name in names]


async def test_a_batch_stores_every_stream_in_the_batchs_order(postgres_dsn: str) -> None:
    async with opened(postgres_dsn) as store:
        await store.append("order-2", _events("Placed"))
        results = await store.append_many(
            [
                ("order-1", _events("Placed", "Paid"), ExpectedVersion.NO_STREAM),
                ("order-2", _events("Paid"), 1),
                ("order-3", _events("Placed"), ExpectedVersion.ANY),
            ]
        )
        assert [(r.stream_id, r.version) for r in results] == [
            ("order-1", 2),
            ("order-2", 2),
            ("order-3", 1),
        ]
        feed = (await store.read_all())[1:]
        assert [(e.stream_id, e.version, e.event_type) for e in feed] == [
            ("order-1", 1, "Placed"),
            ("order-1", 2, "Paid"),
            ("order-2", 2, "Paid"),
            ("order-3", 1, "Placed"),
        ]
        assert [r.position for r in results] == [
            feed[1].position,
            feed[2].position,
            feed[3].position,
        ]


async def test_one_stream_off_its_expected_version_stores_nothing(postgres_dsn: str) -> None:
    async with opened(postgres_dsn) as store:
        await store.append("order-2", _events("Placed"))
        with pytest.raises(ConcurrencyError, match="order-2"):
            await store.append_many(
                [("order-1", _events("Placed"), 0), ("order-2", _events("Paid"), 5)]
            )
        assert await store.stream_version("order-1") == 0
        assert len(await store.read_all()) == 1


async def test_rerunning_a_stored_batch_returns_the_original_results(postgres_dsn: str) -> None:
    async with opened(postgres_dsn) as store:
        batch = [
            ("import-1", _events("Row", "Row"), ExpectedVersion.NO_STREAM),
            ("import-2", _events("Row"), ExpectedVersion.NO_STREAM),
        ]
        first = await store.append_many(batch)
        again = await store.append_many(batch)
        assert again == first
        assert len(await store.read_all()) == 3


async def test_an_event_id_stored_elsewhere_fails_the_whole_batch(postgres_dsn: str) -> None:
    async with opened(postgres_dsn) as store:
        reused = NewEvent("Row", {}, event_id=uuid.uuid4())
        await store.append("import-1", [reused])
        with pytest.raises(DuplicateEventIdError, match="import-1"):
            await store.append_many([("import-2", _events("Row"), 0), ("import-3", [reused], 0)])
        assert [e.stream_id for e in await store.read_all()] == ["import-1"]


async def test_bad_input_anywhere_in_a_batch_is_refused_before_anything_is_written(
    postgres_dsn: str,
) -> None:
    async with opened(postgres_dsn) as store:
        with pytest.raises(InvalidInputError):
            await store.append_many(
                [("ok-1", _events("Fine"), 0), ("bad-1", [NewEvent("Bad", {"x": {1, 2}})], 0)]
            )
        with pytest.raises(InvalidInputError):
            await store.append_many([("ok-1", _events("Fine"))])  # type: ignore[list-item]
        with pytest.raises(InvalidInputError):
            await store.append_many([("", _events("Fine"), 0)])
        assert await store.read_all() == []
        assert await store.append_many([]) == []


async def test_a_batch_inside_a_transaction_rolls_back_with_it(postgres_dsn: str) -> None:
    async with opened(postgres_dsn) as store:

        async def batch_then_fail() -> None:
            async with store.db.transaction():
                await store.append_many([("order-1", _events("Placed"), 0)])
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            await batch_then_fail()
        assert await store.read_all() == []


async def test_a_batch_is_one_statement(postgres_dsn: str) -> None:
    statements: list[str] = []

    async def log_queries(connection: Any) -> None:
        connection.add_query_logger(lambda record: statements.append(record.query))

    async with fresh_schema(postgres_dsn) as plain:
        pool = await asyncpg.create_pool(postgres_dsn, min_size=1, max_size=1, init=log_queries)
        try:
            store = PostgresEventStore(PostgresDatabase(pool, schema=plain.schema))
            await store.migrate()
            # The first batch prepares the statement (asyncpg caches it per connection).
            await store.append_many([("warm-1", _events("Placed"), 0)])
            statements.clear()
            parts = [
                (f"order-{n}", _events("Placed", "Paid"), ExpectedVersion.ANY) for n in range(50)
            ]
            await store.append_many(parts)
            appends = [q for q in statements if "forze_append_many" in q or "INSERT" in q]
            assert len(appends) == 1
            assert len(await store.read_all()) == 101
            await store.close()
        finally:
            await pool.close()


async def test_tenants_batch_into_their_own_streams(postgres_dsn: str) -> None:
    async with fresh_schema(postgres_dsn) as db:
        acme = PostgresEventStore(db.for_tenant("acme"))
        globex = PostgresEventStore(db.for_tenant("globex"))
        await acme.migrate()
        await acme.append_many([("order-1", _events("Placed"), 0)])
        await globex.append_many([("order-1", _events("Placed", "Paid"), 0)])
        assert await acme.stream_version("order-1") == 1
        assert await globex.stream_version("order-1") == 2
        assert [e.event_type for e in await acme.read_all()] == ["Placed"]
