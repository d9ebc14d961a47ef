"""Which transactions hold the PostgreSQL feed back: those that may append, and only those.

A transaction that may append holds the schema's feed lock, and readers keep their watermark
below it until it ends (a gap-safe feed). forze's read-model, checkpoint, snapshot and
projector transactions never append, so a committed append is in ``read_all`` even while a
projector's batch is open.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from forze import ReadOnlyOperationError
from forze.contracts import NewEvent
from forze_postgres import PostgresDatabase, PostgresEventStore
from forze_postgres._driver import Connection
from tests.postgres_support import fresh_schema

SCRATCH = ["CREATE TABLE {schema}.scratch (x INTEGER)"]


def _event(n: int) -> NewEvent:
    return NewEvent("Stored", {"n": n})


@asynccontextmanager
async def _store(dsn: str) -> AsyncIterator[tuple[PostgresDatabase, PostgresEventStore]]:
    """A fresh schema with an event store and a scratch table to write to."""
    async with fresh_schema(dsn) as db:
        store = PostgresEventStore(db)
        await store.migrate()
        await db.migrate("scratch", SCRATCH)
        yield db, store


async def _write(connection: Connection, db: PostgresDatabase) -> None:
    await connection.execute(f"INSERT INTO {db.table('scratch')} VALUES (1)")


async def test_a_committed_append_is_in_the_feed_while_a_read_side_transaction_is_open(
    postgres_dsn: str,
) -> None:
    async with _store(postgres_dsn) as (db, store):
        wrote, finish = asyncio.Event(), asyncio.Event()

        async def projector_batch() -> None:
            async with db.transaction(appends=False) as connection:
                await _write(connection, db)
                wrote.set()
                await finish.wait()

        batch = asyncio.ensure_future(projector_batch())
        await wrote.wait()
        result = await store.append("s-1", [_event(1)])
        assert [e.position for e in await store.read_all()] == [result.position]
        assert await store.head_position() == result.position
        finish.set()
        await batch


async def test_an_open_transaction_that_may_append_holds_later_commits_back_until_it_ends(
    postgres_dsn: str,
) -> None:
    async with _store(postgres_dsn) as (db, store):
        wrote, finish = asyncio.Event(), asyncio.Event()

        async def usecase() -> None:
            async with db.transaction() as connection:
                await _write(connection, db)
                wrote.set()
                await finish.wait()
                await store.append("early", [_event(0)])

        unit = asyncio.ensure_future(usecase())
        await wrote.wait()
        later = await store.append("late", [_event(1)])
        assert await store.read_all() == [], "the open transaction may still append below it"
        finish.set()
        await unit
        feed = await store.read_all()
        assert [e.stream_id for e in feed] == ["early", "late"]
        assert feed[-1].position == later.position


async def test_an_append_may_join_a_read_side_transaction_before_its_first_write(
    postgres_dsn: str,
) -> None:
    async with _store(postgres_dsn) as (db, store):
        async with db.transaction(appends=False) as connection:
            result = await store.append("s-1", [_event(1)])
            await _write(connection, db)
            await store.append("s-2", [_event(2)])
        assert [e.stream_id for e in await store.read_all()] == ["s-1", "s-2"]
        assert (await store.read_all())[0].position == result.position
        assert await store.stream_version("s-2") == 1


async def test_an_append_after_a_write_in_a_read_side_transaction_is_refused(
    postgres_dsn: str,
) -> None:
    async with _store(postgres_dsn) as (db, store):

        async def write_then_append() -> None:
            async with db.transaction(appends=False) as connection:
                await _write(connection, db)
                await store.append("s-1", [_event(1)])

        async def write_then_append_many() -> None:
            async with db.transaction(appends=False) as connection:
                await _write(connection, db)
                await store.append_many([("s-2", [_event(2)], 0)])

        with pytest.raises(ReadOnlyOperationError, match="appends=False"):
            await write_then_append()
        with pytest.raises(ReadOnlyOperationError, match="appends=False"):
            await write_then_append_many()
        assert await store.read_all() == []
        async with db.connection() as connection:
            assert await connection.fetchval(f"SELECT count(*) FROM {db.table('scratch')}") == 0
