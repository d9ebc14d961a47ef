"""A PostgreSQL restart or failover drops every connection of the pool: outside a transaction
of the caller, an append or a read that meets a dropped connection is sent once more on a new
one; an append that had committed before its answer was lost returns its original result."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

from forze import EventStoreUnavailable
from forze.contracts import NewEvent
from forze_postgres import PostgresDatabase, PostgresEventStore
from forze_postgres._appending import Appender
from tests.postgres_support import fresh_schema


@asynccontextmanager
async def _victim(dsn: str) -> AsyncIterator[tuple[PostgresEventStore, asyncpg.Connection]]:
    """A store on a pool of its own whose connections can be killed, and an admin connection
    that kills them with :func:`_drop_all`."""
    async with fresh_schema(dsn) as db:
        name = f"forze-lost-{db.schema}"
        victim = await PostgresDatabase.connect(
            f"{dsn}?application_name={name}", schema=db.schema, max_size=4
        )
        store = PostgresEventStore(victim)
        await store.migrate()
        admin = await asyncpg.connect(dsn, server_settings={"application_name": "admin"})
        await admin.execute(f"SET forze.victim = '{name}'")
        try:
            yield store, admin
        finally:
            await admin.close()
            await store.close()
            await victim.close()


async def _drop_all(admin: asyncpg.Connection) -> None:
    """Terminate every server process of the victim's pool (a restart, as its clients see it)."""
    await admin.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE application_name = current_setting('forze.victim')"
    )


async def _warm(store: PostgresEventStore) -> None:
    """Use every connection of the pool at once, so that all of them are open (and kept)."""
    await asyncio.gather(*(store.append(f"warm-{n}", [NewEvent("Warmed", {})]) for n in range(4)))


async def test_appends_and_reads_right_after_every_connection_was_dropped_succeed(
    postgres_dsn: str,
) -> None:
    async with _victim(postgres_dsn) as (store, admin):
        for n in range(10):
            await _warm(store)
            await _drop_all(admin)
            stored = await store.append("order-1", [NewEvent("Placed", {"n": n})])
            assert stored.version == n + 1
            await _drop_all(admin)
            assert len(await store.read_stream("order-1")) == n + 1
            await _drop_all(admin)
            assert (await store.read_all())[-1].event_id is not None
            await _drop_all(admin)
            assert await store.stream_version("order-1") == n + 1
            await _drop_all(admin)
            assert await store.head_position() == (await store.read_all())[-1].position
            await _drop_all(admin)
            assert await store.count_events() == 4 * (n + 1) + n + 1
        await _drop_all(admin)
        batch = await store.append_many([("order-2", [NewEvent("Placed", {})], 0)])
        assert batch[0].version == 1


async def test_an_append_whose_answer_was_lost_after_it_committed_returns_its_result_once(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _victim(postgres_dsn) as (store, _):
        await store.append("order-1", [NewEvent("Placed", {})])
        real = Appender.append_known
        lost = [True]

        async def commits_then_loses_the_answer(self: Appender, *args: Any) -> Any:
            result = await real(self, *args)
            if lost.pop() if lost else False:
                raise EventStoreUnavailable("append") from asyncpg.ConnectionDoesNotExistError(
                    "connection was closed in the middle of operation"
                )
            return result

        monkeypatch.setattr(Appender, "append_known", commits_then_loses_the_answer)
        paid = NewEvent("Paid", {})
        result = await store.append("order-1", [paid], 1)
        assert not lost, "the first send committed and its answer was lost"
        assert result.version == 2
        assert [e.event_id for e in await store.read_stream("order-1")][1:] == [paid.event_id]


async def test_in_your_transaction_a_dropped_connection_is_yours_to_retry(
    postgres_dsn: str,
) -> None:
    async with _victim(postgres_dsn) as (store, admin):

        async def unit_of_work() -> None:
            async with store.db.transaction():
                await store.append("order-1", [NewEvent("Placed", {})])
                await _drop_all(admin)
                await asyncio.sleep(0.1)
                await store.append("order-1", [NewEvent("Paid", {})])

        with pytest.raises(EventStoreUnavailable):
            await unit_of_work()
        assert await store.stream_version("order-1") == 0
