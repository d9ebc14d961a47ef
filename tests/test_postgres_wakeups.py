"""Subscribers of a PostgresEventStore wake on commits: in this process at once, in others
through LISTEN/NOTIFY (coalesced, after the commit), and after the LISTEN connection dies;
a subscription outlives the loss of every connection it uses."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from forze.contracts import NewEvent, RecordedEvent
from forze_postgres import PostgresDatabase, PostgresEventStore
from forze_postgres import _wakeups as wakeups_module
from forze_postgres._event_sql import listeners_lock
from tests.postgres_support import fresh_schema

NEVER = 60.0
"""A poll interval no test waits for: only a notification can wake the subscriber in time."""


@asynccontextmanager
async def two_processes(dsn: str) -> AsyncIterator[tuple[PostgresEventStore, PostgresEventStore]]:
    """A writer and a reader on separate pools of one schema, like two processes."""
    async with fresh_schema(dsn) as db:
        writer = PostgresEventStore(db, poll_interval=NEVER)
        await writer.migrate()
        other = await PostgresDatabase.connect(dsn, schema=db.schema)
        reader = PostgresEventStore(other, poll_interval=NEVER)
        try:
            yield writer, reader
        finally:
            await reader.close()
            await other.close()
            await writer.close()


async def _next(feed: AsyncIterator[RecordedEvent], within: float = 5.0) -> RecordedEvent:
    return await asyncio.wait_for(anext(feed), within)


def _event(n: int) -> NewEvent:
    return NewEvent("Ticked", {"n": n})


@asynccontextmanager
async def _waiting(
    reader: PostgresEventStore, within: float = 5.0
) -> AsyncIterator[tuple[AsyncIterator[RecordedEvent], asyncio.Future[RecordedEvent]]]:
    """A subscription of ``reader`` that has read the empty feed and waits: the feed, and
    its first event to come."""
    feed = reader.subscribe()
    first = asyncio.ensure_future(_next(feed, within))
    await asyncio.sleep(0.2)
    try:
        yield feed, first
    finally:
        await feed.aclose()


async def test_a_subscriber_in_another_process_is_woken_by_a_notification(
    postgres_dsn: str,
) -> None:
    async with two_processes(postgres_dsn) as (writer, reader), _waiting(reader) as (_, first):
        started = time.monotonic()
        await writer.append("tick-1", [_event(1)])
        assert (await first).data == {"n": 1}
        assert time.monotonic() - started < NEVER / 10


async def test_an_append_in_a_transaction_notifies_only_after_its_commit(
    postgres_dsn: str,
) -> None:
    async with (
        two_processes(postgres_dsn) as (writer, reader),
        _waiting(reader, within=10.0) as (_, first),
    ):
        async with writer.db.transaction():
            await writer.append("tick-1", [_event(1)])
            await asyncio.sleep(0.3)
            assert not first.done(), "nothing is visible before the commit"
        assert (await first).data == {"n": 1}


async def test_a_burst_of_appends_shares_notifications_and_loses_no_event(
    postgres_dsn: str,
) -> None:
    async with two_processes(postgres_dsn) as (writer, reader):
        feed = reader.subscribe()
        received: list[int] = []

        async def read_all_of(count: int) -> None:
            while len(received) < count:
                received.append((await _next(feed)).data["n"])

        reading = asyncio.ensure_future(read_all_of(200))
        await asyncio.sleep(0.2)
        for n in range(200):
            await writer.append(f"tick-{n % 7}", [_event(n)])
        await asyncio.wait_for(reading, 20.0)
        assert received == list(range(200))
        await feed.aclose()


async def test_a_subscription_survives_its_listen_connection_being_killed(
    postgres_dsn: str,
) -> None:
    async with two_processes(postgres_dsn) as (writer, reader):
        feed = reader.subscribe()
        await writer.append("tick-1", [_event(1)])
        assert (await _next(feed)).data == {"n": 1}
        listener = reader._wakeups.listener
        assert listener is not None
        pid = listener.get_server_pid()
        async with writer.db.connection() as admin:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        # Appended while the reader may be deaf: found when it reconnects, not at the poll.
        await writer.append("tick-1", [_event(2)])
        assert (await _next(feed)).data == {"n": 2}
        await _until_listening_again(reader, pid)
        await writer.append("tick-1", [_event(3)])
        assert (await _next(feed)).data == {"n": 3}
        await feed.aclose()


async def test_a_subscription_resumes_from_its_position_when_the_server_drops_its_connections(
    postgres_dsn: str,
) -> None:
    async with fresh_schema(postgres_dsn) as db:
        writer = PostgresEventStore(db)
        await writer.migrate()
        name = f"forze-victim-{db.schema}"
        reader_db = await PostgresDatabase.connect(
            f"{postgres_dsn}?application_name={name}", schema=db.schema, max_size=4
        )
        reader = PostgresEventStore(reader_db, poll_interval=0.05)
        feed = reader.subscribe()
        try:
            received: list[int] = []

            async def read(count: int) -> None:
                async for event in feed:
                    received.append(event.data["n"])
                    if len(received) == count:
                        return

            reading = asyncio.ensure_future(read(60))
            async with db.connection() as admin:
                for n in range(60):
                    await writer.append(f"tick-{n % 3}", [_event(n)])
                    if n % 10 == 5:  # the reader's LISTEN, kept and reading connections
                        await admin.fetchval(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                            " WHERE application_name = $1",
                            name,
                        )
                    await asyncio.sleep(0.01)
            await asyncio.wait_for(reading, 30.0)
            assert received == list(range(60))
            for _ in range(100):  # and it listens again
                if reader._wakeups.listener is not None:
                    break
                await asyncio.sleep(0.05)
            assert reader._wakeups.listener is not None
        finally:
            await feed.aclose()
            await reader.close()
            await reader_db.close()
            await writer.close()


async def test_a_listen_connection_that_fails_oddly_only_delays_listening(
    postgres_dsn: str,
) -> None:
    """A pooled connection the server is dropping fails with a client-side error (not a
    server or interface one); the subscriber polls and listens once a connection works."""
    async with two_processes(postgres_dsn) as (writer, reader):
        wakeups = reader._wakeups
        real_open = wakeups._open_listener
        calls = 0

        async def open_listener() -> object:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise asyncpg.InternalClientError("cannot switch to state 11")
            return await real_open()

        wakeups._open_listener = open_listener  # type: ignore[method-assign]
        wakeups.poll_interval = 0.05
        feed = reader.subscribe()
        await writer.append("tick-1", [_event(1)])
        assert (await _next(feed)).data == {"n": 1}
        for _ in range(100):
            if wakeups.listener is not None:
                break
            await asyncio.sleep(0.05)
        assert wakeups.listener is not None
        assert calls == 2
        await feed.aclose()


async def _until_listening_again(store: PostgresEventStore, old_pid: int) -> None:
    for _ in range(100):
        listener = store._wakeups.listener
        if listener is not None and listener.get_server_pid() != old_pid:
            return
        await asyncio.sleep(0.05)
    pytest.fail("the store never listened again")


async def test_an_append_after_a_quiet_spell_carries_the_notification_in_its_own_statement(
    postgres_dsn: str,
) -> None:
    async with two_processes(postgres_dsn) as (writer, reader), _waiting(reader) as (_, first):
        await writer.append("tick-1", [_event(1)])
        assert (await first).data == {"n": 1}
        assert writer._wakeups._sender is None, "no NOTIFY statement of its own"
        assert writer._wakeups._timer is None, "nothing left pending"


async def test_the_later_appends_of_a_burst_are_notified_once_it_ends(
    postgres_dsn: str,
) -> None:
    async with (
        two_processes(postgres_dsn) as (writer, reader),
        _waiting(reader) as (feed, first),
    ):
        await writer.append("tick-1", [_event(1)])  # carries the notification
        await writer.append("tick-1", [_event(2)])  # within the interval: left pending
        assert (await first).data == {"n": 1}
        assert (await _next(feed)).data == {"n": 2}, "woken by the trailing notification"
        for _ in range(100):
            if writer._wakeups._timer is None:
                break
            await asyncio.sleep(0.01)
        assert writer._wakeups._timer is None, "the timer ends with the burst"


async def test_appends_send_no_notification_while_no_subscriber_listens(
    postgres_dsn: str,
) -> None:
    """A bare LISTEN (not a forze subscriber: it holds no listeners' lock) hears nothing
    until a subscriber of another store listens; from then on it hears the appends too."""
    async with two_processes(postgres_dsn) as (writer, reader):
        heard: list[str] = []
        bare = await asyncpg.connect(postgres_dsn)
        try:
            await bare.add_listener(writer._wakeups.channel, lambda *_: heard.append("x"))
            await writer.append("tick-1", [_event(1)])  # carries no notification
            async with writer.db.transaction():
                await writer.append("tick-1", [_event(2)])  # the trailing one: not sent either
            await asyncio.sleep(0.3)
            assert heard == []
            async with _waiting(reader) as (_, first):
                await writer.append("tick-1", [_event(3)])
                assert (await first).data == {"n": 1}
                for _ in range(100):
                    if heard:
                        break
                    await asyncio.sleep(0.01)
                assert heard, "a subscriber listens: the append notified"
        finally:
            await bare.close()


async def test_a_subscriber_that_cannot_listen_in_time_polls_and_listens_later(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wakeups_module, "_LISTEN_WITHIN", 0.2)
    async with fresh_schema(postgres_dsn) as db:
        writer = PostgresEventStore(db)
        await writer.migrate()
        reader = PostgresEventStore(db, poll_interval=0.05)
        blocker = await asyncpg.connect(postgres_dsn)
        try:
            # another session holds the listeners' lock alone: LISTEN cannot be set up
            await blocker.execute("SELECT pg_advisory_lock($1)", listeners_lock(db.schema))
            feed = reader.subscribe()
            first = asyncio.ensure_future(_next(feed))
            await asyncio.sleep(0.3)
            await writer.append("tick-1", [_event(1)])
            assert (await first).data == {"n": 1}, "found by polling"
            assert not _listens(reader)
            await blocker.execute("SELECT pg_advisory_unlock($1)", listeners_lock(db.schema))
            for _ in range(200):
                if _listens(reader):
                    break
                await asyncio.sleep(0.01)
            assert _listens(reader), "listens once it can"
            await feed.aclose()
        finally:
            await blocker.close()
            await reader.close()
            await writer.close()


def _listens(store: PostgresEventStore) -> bool:
    return store._wakeups.listener is not None
