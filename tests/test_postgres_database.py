"""PostgresDatabase: migrations, task-pinned transactions, translated errors (real server)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from forze import EventStoreUnavailable, InvalidInputError
from forze_postgres import PostgresDatabase
from forze_postgres._driver import is_open
from forze_postgres.errors import translated
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


async def test_a_connection_that_comes_back_cleanly_serves_the_next_call(
    postgres_dsn: str,
) -> None:
    async with fresh_schema(postgres_dsn) as db:
        async with db.connection() as connection:
            first = connection.get_server_pid()
        async with db.connection() as connection:
            assert connection.get_server_pid() == first


async def test_a_kept_connection_the_server_closed_is_not_handed_out_again(
    postgres_dsn: str,
) -> None:
    async with fresh_schema(postgres_dsn) as db:
        async with db.connection() as connection:
            dropped = connection.get_server_pid()
        admin = await asyncpg.connect(postgres_dsn)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", dropped)
        finally:
            await admin.close()
        for _ in range(100):  # until the client has read the server's goodbye
            if not db._reuse.idle or not is_open(db._reuse.idle[-1]):
                break
            await asyncio.sleep(0.02)
        async with db.connection() as connection:
            assert await connection.fetchval("SELECT 1") == 1
            assert connection.get_server_pid() != dropped


async def test_a_failing_return_to_the_pool_does_not_hide_the_blocks_outcome(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with fresh_schema(postgres_dsn) as db:
        release = asyncpg.Pool.release

        async def lost(pool: asyncpg.Pool, connection: Any, **options: object) -> None:
            await release(pool, connection)
            raise asyncpg.InterfaceError("the rollback met a closed connection")

        monkeypatch.setattr(asyncpg.Pool, "release", lost)

        async def fail() -> None:
            async with db.connection():
                raise InvalidInputError("the caller's own error")

        with pytest.raises(InvalidInputError, match="the caller's own error"):
            await fail()
        async with db.connection() as connection:
            assert await connection.fetchval("SELECT 1") == 1


async def test_a_failing_rollback_does_not_hide_the_error_that_ended_the_transaction(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def lost(transaction: object) -> None:
        raise asyncpg.InterfaceError("the rollback met a closed connection")

    async with fresh_schema(postgres_dsn) as db:
        monkeypatch.setattr(asyncpg.transaction.Transaction, "rollback", lost)

        async def fail() -> None:
            async with db.transaction():
                raise InvalidInputError("the caller's own error")

        with pytest.raises(InvalidInputError, match="the caller's own error"):
            await fail()
        monkeypatch.undo()
        async with db.connection() as connection:
            assert not connection.is_in_transaction()


async def test_a_server_error_says_whether_trying_again_may_help(postgres_dsn: str) -> None:
    async with fresh_schema(postgres_dsn) as db, db.connection() as connection:
        with pytest.raises(EventStoreUnavailable) as refused, translated("read"):
            await connection.execute("SELECT * FROM no_such_table")
        assert not refused.value.transient
        await connection.execute("SET statement_timeout = 1")
        try:
            with pytest.raises(EventStoreUnavailable) as cancelled, translated("read"):
                await connection.execute("SELECT pg_sleep(1)")
        finally:
            await connection.execute("RESET statement_timeout")
        assert cancelled.value.transient
    with pytest.raises(EventStoreUnavailable) as lost, translated("read"):
        raise asyncpg.ConnectionDoesNotExistError("connection was closed")
    assert lost.value.transient


async def test_a_connection_the_server_is_dropping_is_unavailable_not_a_driver_error() -> None:
    with (
        pytest.raises(EventStoreUnavailable, match="InternalClientError"),
        translated("read the feed"),
    ):
        raise asyncpg.InternalClientError("cannot switch to state 11")


async def test_a_connection_whose_block_failed_goes_back_through_the_pool(
    postgres_dsn: str,
) -> None:
    async with fresh_schema(postgres_dsn) as db:

        async def fail() -> None:
            async with db.connection() as connection:
                await connection.execute("SET application_name = 'dirty'")
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            await fail()
        assert db._reuse.idle == []


async def test_at_most_half_of_an_owned_pool_is_kept_out_of_it(postgres_dsn: str) -> None:
    async with fresh_schema(postgres_dsn, max_size=8) as db:

        async def call() -> None:
            async with db.connection() as connection:
                await connection.execute("SELECT pg_sleep(0.05)")

        await asyncio.gather(*(call() for _ in range(8)))
        assert len(db._reuse.idle) == 4
        assert db.pool.get_idle_size() >= 4


async def test_a_pool_the_caller_made_is_never_held(postgres_dsn: str) -> None:
    pool = await asyncpg.create_pool(postgres_dsn, min_size=1, max_size=2)
    try:
        db = PostgresDatabase(pool)
        async with db.connection() as connection:
            await connection.execute("SELECT 1")
        assert pool.get_idle_size() == pool.get_size()
    finally:
        await pool.close()


async def test_closing_keeps_nothing_back_from_the_pool_even_for_late_releases(
    postgres_dsn: str,
) -> None:
    db = await PostgresDatabase.connect(postgres_dsn, max_size=4)
    entered, leave = asyncio.Event(), asyncio.Event()

    async def late() -> None:
        async with db.connection() as connection:
            entered.set()
            await leave.wait()
            await connection.execute("SELECT 1")

    straggler = asyncio.ensure_future(late())
    await entered.wait()
    closing = asyncio.ensure_future(db.close())
    await asyncio.sleep(0.05)
    leave.set()
    await asyncio.wait_for(asyncio.gather(straggler, closing), 5)
    assert db.pool.is_closing()


async def test_closing_a_tenant_view_leaves_the_database_working(postgres_dsn: str) -> None:
    async with fresh_schema(postgres_dsn) as db:
        await db.for_tenant("t1").close()
        async with db.connection() as connection:
            first = connection.get_server_pid()
        async with db.connection() as connection:
            assert connection.get_server_pid() == first, "connections are still kept"


async def test_a_caller_waiting_for_a_connection_is_not_starved_by_kept_ones(
    postgres_dsn: str,
) -> None:
    db = await PostgresDatabase.connect(postgres_dsn, min_size=2, max_size=2)
    stop, holding = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with db.connection():
            holding.set()
            await stop.wait()

    async def cycle() -> None:
        while not stop.is_set():
            async with db.connection() as connection:
                await connection.execute("SELECT 1")

    holder = asyncio.ensure_future(hold())
    await holding.wait()
    cycler = asyncio.ensure_future(cycle())
    await asyncio.sleep(0.05)
    try:

        async def wait_turn() -> int:
            async with db.connection() as connection:
                return int(await connection.fetchval("SELECT 2"))

        assert await asyncio.wait_for(wait_turn(), 5) == 2
    finally:
        stop.set()
        await asyncio.gather(holder, cycler)
        await db.close()
