"""Closing a PostgresDatabase returns, and closes what it lent: the LISTEN connection of an
event store that subscribed and was never closed, and (after the command timeout) the
connections of tasks still running."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
import pytest

from forze import EventStoreUnavailable
from forze.contracts import NewEvent
from forze_postgres import PostgresDatabase, PostgresEventStore
from tests.postgres_support import fresh_schema

CLOSE_WITHIN = 5.0
"""Seconds a close may take in these tests (the old close waited for ever)."""


async def _open(dsn: str, schema: str, **options: Any) -> tuple[PostgresDatabase, str]:
    """A database on a pool of its own, named so that its server sessions can be found."""
    name = f"forze-close-{uuid.uuid4().hex[:8]}"
    db = await PostgresDatabase.connect(
        f"{dsn}?application_name={name}", schema=schema, max_size=4, **options
    )
    return db, name


async def _close(db: PostgresDatabase) -> float:
    """Close ``db``; how long it took (the pool is terminated if it took too long)."""
    started = time.monotonic()
    try:
        await asyncio.wait_for(db.close(), CLOSE_WITHIN)
    except TimeoutError:
        db.pool.terminate()
    return time.monotonic() - started


async def _sessions(dsn: str, name: str) -> int:
    """How many server sessions the pool named ``name`` still has (a moment after closing)."""
    admin = await asyncpg.connect(dsn)
    try:
        for _ in range(50):
            count: int = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", name
            )
            if count == 0:
                break
            await asyncio.sleep(0.05)
        return count
    finally:
        await admin.close()


async def test_closing_the_database_returns_when_a_subscribed_store_was_never_closed(
    postgres_dsn: str,
) -> None:
    async with fresh_schema(postgres_dsn) as direct:
        db, name = await _open(postgres_dsn, direct.schema)
        store = PostgresEventStore(db)
        await store.migrate()
        await store.append("order-1", [NewEvent("Placed", {})])
        feed = store.subscribe()
        assert (await asyncio.wait_for(anext(feed), 5)).event_type == "Placed"
        assert store._wakeups.listener is not None, "the subscription holds a LISTEN connection"

        assert await _close(db) < CLOSE_WITHIN
        assert await _sessions(postgres_dsn, name) == 0, "the LISTEN session ended"
        await asyncio.sleep(0.3)  # the store must not try to listen again on a closed pool
        relisten = store._wakeups._relisten
        assert relisten is None or relisten.done()
        await feed.aclose()
        await store.close()  # too late, and harmless


async def test_a_subscription_on_a_closed_database_ends_with_an_error_that_is_not_transient(
    postgres_dsn: str,
) -> None:
    async with fresh_schema(postgres_dsn) as direct:
        db, _ = await _open(postgres_dsn, direct.schema)
        store = PostgresEventStore(db, poll_interval=0.05)
        await store.migrate()
        await store.append("order-1", [NewEvent("Placed", {})])
        feed = store.subscribe()
        assert (await asyncio.wait_for(anext(feed), 5)).event_type == "Placed"
        assert await _close(db) < CLOSE_WITHIN
        with pytest.raises(EventStoreUnavailable, match="closed") as raised:
            await asyncio.wait_for(anext(feed), 5)
        assert not raised.value.transient
        await store.close()


async def test_closing_the_database_ends_connections_still_in_use_after_the_command_timeout(
    postgres_dsn: str,
) -> None:
    async with fresh_schema(postgres_dsn) as direct:
        db, name = await _open(postgres_dsn, direct.schema, command_timeout=1.0)
        store = PostgresEventStore(db)
        await store.migrate()
        holding = asyncio.Event()

        async def forgotten_unit_of_work() -> None:
            async with db.transaction():
                await store.append("order-1", [NewEvent("Placed", {})])
                holding.set()
                await asyncio.sleep(3600)

        task = asyncio.create_task(forgotten_unit_of_work())
        try:
            await asyncio.wait_for(holding.wait(), 5)
            took = await _close(db)
            assert 1.0 <= took < 1.0 + 1.0
            assert await _sessions(postgres_dsn, name) == 0
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        check = PostgresEventStore(direct)
        assert await check.stream_version("order-1") == 0, "its transaction rolled back"
