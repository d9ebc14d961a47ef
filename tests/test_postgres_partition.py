"""A silent network partition between forze and PostgreSQL (packets dropped, no reset), made
by a local proxy that stops forwarding: every wait is bounded by the database's timeouts, a
caller that gives up gets control back at once, and once the network heals the database
works again on new connections."""

from __future__ import annotations

import asyncio
import math
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forze import EventStoreUnavailable, InvalidInputError
from forze.contracts import NewEvent, RecordedEvent
from forze_postgres import PostgresDatabase, PostgresEventStore
from forze_postgres._timeouts import Timeouts
from tests.postgres_support import fresh_schema
from tests.tcp_proxy import TcpProxy

PROMPT = 1.0
"""Seconds a caller that gave up may still wait for control to come back."""
MIGRATION_LOCK = 0x666F727A65
"""The advisory lock that serialises migrations (see ``forze_postgres._migrations``)."""
TEST_WITHIN = 60.0
"""No test of this module runs longer (partitions must never hang a run)."""


def _through(proxy: TcpProxy, dsn: str) -> str:
    """``dsn`` with its host and port replaced by the proxy's, without SSL (the local server
    has none: asyncpg's probe for it only adds a round trip to every connection and cancel
    request)."""
    parts = urlsplit(dsn)
    user = parts.netloc.rpartition("@")[0]
    netloc = f"{user}@127.0.0.1:{proxy.port}" if user else f"127.0.0.1:{proxy.port}"
    query = "&".join(filter(None, [parts.query, "sslmode=disable"]))
    return urlunsplit(parts._replace(netloc=netloc, query=query))


@asynccontextmanager
async def _behind_proxy(
    dsn: str, **options: Any
) -> AsyncIterator[tuple[PostgresEventStore, TcpProxy]]:
    """A store whose pool reaches the server only through a proxy (the schema's tables made
    directly), and the proxy, healed again before the store closes."""
    target = urlsplit(dsn)
    async with (
        asyncio.timeout(TEST_WITHIN),
        fresh_schema(dsn) as direct,
        TcpProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy,
    ):
        await PostgresEventStore(direct).migrate()
        db = await PostgresDatabase.connect(
            _through(proxy, dsn), schema=direct.schema, max_size=4, **options
        )
        store = PostgresEventStore(db, poll_interval=0.2)
        try:
            await store.append("order-0", [NewEvent("Warmed", {})])
            yield store, proxy
        finally:
            proxy.heal()
            await store.close()
            await db.close()


def _placed(n: int = 0) -> NewEvent:
    return NewEvent("Placed", {"n": n})


async def test_an_append_under_a_caller_timeout_returns_at_the_timeout_during_a_partition(
    postgres_dsn: str,
) -> None:
    async with _behind_proxy(postgres_dsn) as (store, proxy):
        proxy.partition()
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1):
                await store.append("order-1", [_placed()])
        assert time.monotonic() - started < 1 + PROMPT


async def test_a_cancelled_append_task_ends_at_once_during_a_partition(
    postgres_dsn: str,
) -> None:
    async with _behind_proxy(postgres_dsn) as (store, proxy):
        proxy.partition()
        task = asyncio.create_task(store.append("order-1", [_placed()]))
        await asyncio.sleep(0.3)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < PROMPT


async def test_a_transaction_under_a_caller_timeout_returns_at_the_timeout_during_a_partition(
    postgres_dsn: str,
) -> None:
    async with _behind_proxy(postgres_dsn) as (store, proxy):

        async def unit_of_work() -> None:
            async with store.db.transaction():
                await store.append("order-1", [_placed(1)])
                proxy.partition()
                await store.append("order-1", [_placed(2)])

        started = time.monotonic()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1):
                await unit_of_work()
        assert time.monotonic() - started < 1 + PROMPT
        proxy.heal()
        assert await store.stream_version("order-1") == 0, "the transaction rolled back"


async def test_a_transaction_begun_under_a_caller_timeout_returns_at_the_timeout_during_a_partition(
    postgres_dsn: str,
) -> None:
    async with _behind_proxy(postgres_dsn) as (store, proxy):
        proxy.partition()
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1), store.db.transaction():
                pass
        assert time.monotonic() - started < 1 + PROMPT


async def test_an_append_cancelled_inside_its_savepoint_returns_at_the_timeout_during_a_partition(
    postgres_dsn: str,
) -> None:
    async with _behind_proxy(postgres_dsn) as (store, proxy):

        async def cut_off_inside_the_append(connection: Any, _: Any) -> None:
            proxy.partition()  # the append's savepoint is open on the server now
            await connection.fetchval("SELECT 1")

        store.add_append_hook(cut_off_inside_the_append)

        async def unit_of_work() -> None:
            async with store.db.transaction():
                await store.append("order-1", [_placed(1)])

        started = time.monotonic()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1):
                await unit_of_work()
        assert time.monotonic() - started < 1 + PROMPT
        proxy.heal()
        store._hooks.clear()
        assert await store.stream_version("order-1") == 0, "the transaction rolled back"


async def test_an_append_during_a_partition_fails_as_unavailable_within_the_command_timeout(
    postgres_dsn: str,
) -> None:
    async with _behind_proxy(postgres_dsn, command_timeout=1.5) as (store, proxy):
        proxy.partition()
        started = time.monotonic()
        with pytest.raises(EventStoreUnavailable, match="command_timeout") as raised:
            await store.append("order-1", [_placed()])
        assert time.monotonic() - started < 1.5 + PROMPT
        assert raised.value.transient
        assert isinstance(raised.value.__cause__, TimeoutError)


async def test_a_new_connection_during_a_partition_fails_within_the_connect_timeout(
    postgres_dsn: str,
) -> None:
    async with _behind_proxy(postgres_dsn, connect_timeout=1.0) as (_, proxy):
        proxy.partition()
        started = time.monotonic()
        with pytest.raises(EventStoreUnavailable, match="connect_timeout") as raised:
            await PostgresDatabase.connect(_through(proxy, postgres_dsn), connect_timeout=1.0)
        assert time.monotonic() - started < 1.0 + PROMPT
        assert raised.value.transient


async def test_appends_and_reads_work_again_once_the_partition_heals(postgres_dsn: str) -> None:
    async with _behind_proxy(postgres_dsn, command_timeout=1.0, connect_timeout=1.0) as (
        store,
        proxy,
    ):
        proxy.partition()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await store.append("order-1", [_placed(1)])
        with pytest.raises(EventStoreUnavailable):
            await store.append("order-1", [_placed(2)])
        with pytest.raises(EventStoreUnavailable):
            await store.read_stream("order-0")
        proxy.heal()
        started = time.monotonic()
        stored = await store.append("order-1", [_placed(3)])
        assert time.monotonic() - started < PROMPT
        events = await store.read_stream("order-1")
        # nothing reached the server during the partition
        assert stored.version == 1
        assert [e.data["n"] for e in events] == [3]


async def test_a_subscriber_outlives_a_partition_and_sees_what_was_appended_meanwhile(
    postgres_dsn: str,
) -> None:
    async with _behind_proxy(postgres_dsn, command_timeout=1.0) as (store, proxy):
        # a writer that is not cut off
        writer_db = await PostgresDatabase.connect(postgres_dsn, schema=store.db.schema)
        writer = PostgresEventStore(writer_db)
        feed = store.subscribe()
        try:
            assert (await asyncio.wait_for(anext(feed), 5)).event_type == "Warmed"
            proxy.partition()
            await writer.append("order-1", [_placed(1)])
            waiting = asyncio.ensure_future(_next_placed(feed))
            await asyncio.sleep(2.5)  # more than two command timeouts
            assert not waiting.done()
            proxy.heal()
            event = await asyncio.wait_for(waiting, 10)
            assert event.data == {"n": 1}
        finally:
            await feed.aclose()
            await writer.close()
            await writer_db.close()


async def _next_placed(feed: AsyncIterator[RecordedEvent]) -> RecordedEvent:
    return await anext(feed)


async def test_a_subscriber_cancelled_during_a_partition_ends_at_once(postgres_dsn: str) -> None:
    async with _behind_proxy(postgres_dsn) as (store, proxy):
        feed = store.subscribe()
        assert (await asyncio.wait_for(anext(feed), 5)).event_type == "Warmed"
        proxy.partition()
        reading = asyncio.ensure_future(_next_placed(feed))
        await asyncio.sleep(1.0)  # past its poll interval: it reads, and waits on the server
        started = time.monotonic()
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading
        await feed.aclose()
        assert time.monotonic() - started < PROMPT


async def test_connections_carry_tcp_keepalives_on_both_ends(postgres_dsn: str) -> None:
    async with _behind_proxy(
        postgres_dsn, keepalive_idle=7, keepalive_interval=3, keepalive_count=4
    ) as (store, _):
        async with store.db.connection() as connection:
            server = await connection.fetchrow(
                "SELECT current_setting('tcp_keepalives_idle'),"
                " current_setting('tcp_keepalives_interval'),"
                " current_setting('tcp_keepalives_count'),"
                " current_setting('tcp_user_timeout')"
            )
            raw: Any = connection
            sock = raw._con._transport.get_extra_info("socket")
            client = (
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
                sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
                sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
                sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT),
            )
        assert server is not None
        assert tuple(server) == ("7", "3", "4", "19000")
        assert client == (1, 7, 3, 4, 19_000)


async def test_a_migration_waiting_for_another_one_outlives_the_command_timeout(
    postgres_dsn: str,
) -> None:
    async with asyncio.timeout(TEST_WITHIN), fresh_schema(postgres_dsn) as direct:
        db = await PostgresDatabase.connect(postgres_dsn, schema=direct.schema, command_timeout=0.5)
        other_process = await asyncpg.connect(postgres_dsn)
        try:
            async with other_process.transaction():
                await other_process.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
                migrating = asyncio.ensure_future(PostgresEventStore(db).migrate())
                await asyncio.sleep(1.5)
                assert not migrating.done()
            await asyncio.wait_for(migrating, 10)
        finally:
            await other_process.close()
            await db.close()


@pytest.mark.parametrize(
    "options",
    [
        {"connect_timeout": 0},
        {"command_timeout": -1.0},
        {"command_timeout": float("nan")},
        {"keepalive_idle": float("inf")},
        {"keepalive_interval": "5"},
        {"keepalive_count": 0},
        {"keepalive_count": True},
    ],
)
async def test_a_database_refuses_timeouts_that_are_not_positive_numbers(
    postgres_dsn: str, options: dict[str, Any]
) -> None:
    with pytest.raises(InvalidInputError):
        await PostgresDatabase.connect(postgres_dsn, **options)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.floats(), st.integers(-(2**40), 2**40)))
def test_a_timeout_is_accepted_only_as_a_positive_finite_number_of_seconds(
    seconds: float,
) -> None:
    if math.isfinite(seconds) and seconds > 0:
        Timeouts(connect=seconds, command=seconds)
    else:
        with pytest.raises(InvalidInputError):
            Timeouts(connect=seconds)
        with pytest.raises(InvalidInputError):
            Timeouts(command=seconds)
    if math.isfinite(seconds) and 0 < seconds <= 32767:
        options = Timeouts(keepalive_idle=seconds, keepalive_interval=seconds).pool_options()
        assert 0 < int(options["server_settings"]["tcp_user_timeout"]) <= 2**31 - 1
    else:
        with pytest.raises(InvalidInputError):
            Timeouts(keepalive_idle=seconds)
        with pytest.raises(InvalidInputError):
            Timeouts(keepalive_interval=seconds)


async def test_a_database_opened_by_default_bounds_statements_and_connecting(
    postgres_dsn: str,
) -> None:
    db = await PostgresDatabase.connect(postgres_dsn)
    try:
        async with db.connection() as connection:
            raw: Any = connection
            assert raw._con._config.command_timeout == 30.0
            assert await connection.fetchval("SHOW tcp_keepalives_idle") == "10"
    finally:
        await db.close()
