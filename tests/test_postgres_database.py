"""PostgresDatabase: migrations, task-pinned transactions, translated errors (real server)."""

from __future__ import annotations

import asyncio

import pytest

from forze import EventStoreUnavailable, InvalidInputError
from forze_postgres import PostgresDatabase
from tests.postgres_support import fresh_schema

STEPS = ["CREATE TABLE {schema}.things (id INTEGER PRIMARY KEY)"]


async def test_migrations_apply_once_even_when_run_concurrently(postgres_dsn: str) -> None:
    async with fresh_schema(postgres_dsn) as db:
        versions = await asyncio.gather(*(db.migrate("things", STEPS) for _ in range(4)))
        assert versions == [1, 1, 1, 1]
        assert await db.migrate("things", [*STEPS, "ALTER TABLE {schema}.things ADD x INT"]) == 2


async def test_a_failing_transaction_leaves_nothing(postgres_dsn: str) -> None:
    async with fresh_schema(postgres_dsn) as db:
        await db.migrate("things", STEPS)

        async def insert_then_fail() -> None:
            async with db.transaction() as connection:
                await connection.execute(f"INSERT INTO {db.table('things')} VALUES (1)")
                async with db.transaction() as joined:
                    assert joined is connection
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            await insert_then_fail()
        async with db.connection() as connection:
            assert await connection.fetchval(f"SELECT count(*) FROM {db.table('things')}") == 0


async def test_transactions_of_different_tasks_use_different_connections(
    postgres_dsn: str,
) -> None:
    async with fresh_schema(postgres_dsn) as db:
        seen = []

        async def hold() -> None:
            async with db.transaction() as connection:
                seen.append(id(connection))
                await asyncio.sleep(0.05)

        await asyncio.gather(hold(), hold())
        assert len(set(seen)) == 2


async def test_an_unreachable_server_is_a_forze_error() -> None:
    with pytest.raises(EventStoreUnavailable, match="cannot connect"):
        await PostgresDatabase.connect("postgresql://nobody@127.0.0.1:1/none")


def test_a_schema_must_be_an_identifier() -> None:
    with pytest.raises(InvalidInputError):
        PostgresDatabase(None, schema="bad schema")  # type: ignore[arg-type]


async def test_after_commit_callbacks_run_once_the_transaction_commits(postgres_dsn: str) -> None:
    async with fresh_schema(postgres_dsn) as db:
        calls: list[str] = []
        async with db.transaction():
            db.after_commit(lambda: calls.append("committed"))
            assert calls == []
        assert calls == ["committed"]
        db.after_commit(lambda: calls.append("no transaction: at once"))
        assert calls == ["committed", "no transaction: at once"]


async def test_after_commit_callbacks_of_a_rolled_back_transaction_never_run(
    postgres_dsn: str,
) -> None:
    async with fresh_schema(postgres_dsn) as db:
        calls: list[str] = []

        async def fail_after_registering() -> None:
            async with db.transaction():
                db.after_commit(lambda: calls.append("committed"))
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            await fail_after_registering()
        async with db.transaction():
            pass
        assert calls == []


async def test_a_pooled_connection_comes_back_without_a_leftover_transaction(
    postgres_dsn: str,
) -> None:
    async with fresh_schema(postgres_dsn, max_size=1) as db:
        async with db.connection() as connection:
            await connection.execute("BEGIN")
            await connection.execute("CREATE TEMP TABLE t (x INT)")
        async with db.connection() as connection:
            assert not connection.is_in_transaction()
            assert await connection.fetchval("SELECT to_regclass('pg_temp.t')") is None
