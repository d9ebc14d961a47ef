"""A stream's events follow its versions in the PostgreSQL feed, whichever transaction wrote
them (positions follow transaction ids, which transactions get before they lock a stream)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from forze import ConcurrencyError
from forze.contracts import ExpectedVersion, NewEvent
from forze_postgres import PostgresEventStore
from tests.postgres_support import fresh_schema, fresh_store


def _event(n: int) -> NewEvent:
    return NewEvent("Stored", {"n": n})


async def _append_after_a_later_transaction(
    store: PostgresEventStore, append: Callable[[], Awaitable[object]]
) -> None:
    """In a transaction that got its id first, ``append`` after another task's autocommitted
    append to stream ``s`` (which gets a later id) has committed."""
    async with store.db.transaction() as connection:
        await connection.execute("SELECT pg_current_xact_id()")
        await asyncio.ensure_future(store.append("s", [_event(2)]))
        await append()


@pytest.mark.parametrize("how", ["append", "append_many"])
async def test_a_transaction_with_an_earlier_id_cannot_append_below_a_streams_last_events(
    postgres_dsn: str, how: str
) -> None:
    async with fresh_store(postgres_dsn) as (db, store):
        await store.append("s", [_event(1)])
        late = _event(3)

        async def append() -> object:
            if how == "append":
                return await store.append("s", [late])
            return await store.append_many(
                [("s", [late], ExpectedVersion.ANY), ("t", [_event(0)], ExpectedVersion.ANY)]
            )

        with pytest.raises(ConcurrencyError) as raised:
            await _append_after_a_later_transaction(store, append)
        assert raised.value.stream_id == "s"
        feed = await store.read_all()
        assert [(e.stream_id, e.version, e.data["n"]) for e in feed] == [("s", 1, 1), ("s", 2, 2)]
        # a new transaction (a new id) may append: the usecase's retry succeeds
        async with db.transaction():
            await store.append("s", [late])
        assert [e.version for e in await store.read_all()] == [1, 2, 3]


async def test_racing_autocommitted_appends_to_one_stream_stay_in_version_order(
    postgres_dsn: str,
) -> None:
    async with fresh_schema(postgres_dsn, max_size=12) as db:
        store = PostgresEventStore(db)
        await store.migrate()
        await asyncio.gather(*(store.append("hot", [_event(n), _event(n)]) for n in range(200)))
        feed = await store.read_all()
        assert [e.version for e in feed] == list(range(1, 401))
        assert [e.position for e in feed] == sorted(e.position for e in feed)


async def test_an_append_to_a_stream_another_transaction_holds_waits_then_follows_it(
    postgres_dsn: str,
) -> None:
    async with fresh_store(postgres_dsn) as (db, store):
        await store.append("s", [_event(1)])
        appended, finish = asyncio.Event(), asyncio.Event()

        async def holder() -> None:
            async with db.transaction():
                await store.append("s", [_event(2)])  # holds the stream's lock to its commit
                appended.set()
                await finish.wait()

        holding = asyncio.ensure_future(holder())
        await appended.wait()
        waiting = asyncio.ensure_future(store.append("s", [_event(3)]))
        await asyncio.sleep(0.2)
        assert not waiting.done(), "the stream's lock is held"
        finish.set()
        await holding
        assert (await waiting).version == 3
        feed = await store.read_all()
        assert [(e.version, e.data["n"]) for e in feed] == [(1, 1), (2, 2), (3, 3)]
        assert [e.position for e in feed] == sorted(e.position for e in feed)
