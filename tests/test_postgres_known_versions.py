"""The PostgreSQL event store remembers streams' committed versions to append without reading
them first; what it remembers may be old but never wrong, so every append still keeps the
expected-version rules and leaves each stream's versions without gaps."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forze import ConcurrencyError, InvalidInputError
from forze.contracts import ExpectedVersion, ExpectedVersionArg, NewEvent
from forze_eventstore.adapter_kit import KnownVersions
from forze_postgres import PostgresDatabase, PostgresEventStore
from tests.postgres_support import fresh_schema, fresh_store


def _event(n: int = 0) -> NewEvent:
    return NewEvent("Stored", {"n": n})


async def _versions(store: PostgresEventStore, stream_id: str) -> list[int]:
    return [e.version for e in await store.read_stream(stream_id)]


def test_known_versions_say_which_version_an_append_may_take_without_reading() -> None:
    known = KnownVersions(10)
    assert known.next_version("s", ExpectedVersion.NO_STREAM) == 1
    assert known.next_version("s", 0) == 1
    assert known.next_version("s", ExpectedVersion.ANY) is None
    known.saw("s", 3)
    assert known.next_version("s", ExpectedVersion.ANY) == 4
    assert known.next_version("s", ExpectedVersion.STREAM_EXISTS) == 4
    assert known.next_version("s", 3) == 4
    assert known.next_version("s", 2) is None  # fails: the reading path says so
    assert known.next_version("s", 5) is None  # version 5 may not exist
    known.saw("s", 2)  # an older sighting never lowers what is known
    assert known.next_version("s", ExpectedVersion.ANY) == 4


def test_known_versions_keep_the_most_recently_seen_streams_up_to_their_capacity() -> None:
    known = KnownVersions(2)
    known.saw("a", 1)
    known.saw("b", 1)
    known.saw("a", 2)  # a is now the most recent
    known.saw("c", 1)
    assert known.next_version("b", ExpectedVersion.ANY) is None
    assert known.next_version("a", ExpectedVersion.ANY) == 3
    assert known.next_version("c", ExpectedVersion.ANY) == 2
    off = KnownVersions(0)
    off.saw("a", 1)
    assert off.next_version("a", ExpectedVersion.ANY) is None


async def test_an_append_after_another_store_moved_the_stream_on_lands_after_its_events(
    postgres_dsn: str,
) -> None:
    async with fresh_schema(postgres_dsn) as db:
        mine, theirs = PostgresEventStore(db), PostgresEventStore(db)
        await mine.migrate()
        await mine.append("s", [_event(1)])
        await theirs.append("s", [_event(2), _event(3)], 1)
        result = await mine.append("s", [_event(4)])
        assert result.version == 4
        with pytest.raises(ConcurrencyError):
            await mine.append("s", [_event(5)], 2)  # it knew version 2 once: too old now
        await theirs.append("s", [_event(5)])
        with pytest.raises(ConcurrencyError):
            await mine.append("s", [_event(6)], 4)  # what it remembers is stale
        assert await _versions(mine, "s") == [1, 2, 3, 4, 5]
        assert (await mine.append("s", [_event(6)], 5)).version == 6


async def test_a_rolled_back_transaction_teaches_the_store_no_version(
    postgres_dsn: str,
) -> None:
    async with fresh_store(postgres_dsn) as (db, store):

        async def append_read_and_roll_back() -> None:
            async with db.transaction():
                await store.append("s", [_event(1), _event(2), _event(3)])
                assert await _versions(store, "s") == [1, 2, 3]  # read inside: uncommitted
                assert await store.stream_version("s") == 3
                raise RuntimeError("roll back")

        with pytest.raises(RuntimeError):
            await append_read_and_roll_back()
        assert (await store.append("s", [_event(9)])).version == 1
        assert await _versions(store, "s") == [1]


async def test_a_committed_transaction_and_a_batch_teach_the_store_their_versions(
    postgres_dsn: str,
) -> None:
    async with fresh_store(postgres_dsn) as (db, store):
        async with db.transaction():
            await store.append("s", [_event(1), _event(2)])
        await store.append_many([("t", [_event(1)], ExpectedVersion.NO_STREAM)])
        assert store._known.next_version("s", 2) == 3
        assert store._known.next_version("t", 1) == 2


async def test_after_events_are_deleted_behind_its_back_forgetting_keeps_streams_gap_free(
    postgres_dsn: str,
) -> None:
    async with fresh_schema(postgres_dsn) as db:
        store = PostgresEventStore(db)
        unremembering = PostgresEventStore(db, remembered_streams=0)
        await store.migrate()
        await store.append("s", [_event(1), _event(2)])
        await unremembering.append("t", [_event(1)])
        async with db.connection() as connection:
            await connection.execute(f"TRUNCATE {db.table('forze_events')}")
        store.forget_versions()
        assert (await store.append("s", [_event(3)])).version == 1
        assert (await unremembering.append("t", [_event(2)])).version == 1


async def test_only_reads_that_reach_a_streams_end_teach_its_version(postgres_dsn: str) -> None:
    async with fresh_store(postgres_dsn) as (db, writer):
        await writer.append("s", [_event(n) for n in range(5)])
        store = PostgresEventStore(db)
        await store.read_stream("s", limit=2)
        await store.read_stream("s", from_version=2, limit=1, backwards=True)
        assert store._known.next_version("s", ExpectedVersion.ANY) is None
        await store.read_stream("s", from_version=4, limit=10)
        assert store._known.next_version("s", ExpectedVersion.ANY) == 6
        other = PostgresEventStore(db)
        await other.read_stream("s", backwards=True, limit=1)
        assert other._known.next_version("s", 5) == 6


async def test_bad_input_to_a_remembered_stream_is_a_typed_error_that_stores_nothing(
    postgres_dsn: str,
) -> None:
    async with fresh_store(postgres_dsn) as (_db, store):
        await store.append("s", [_event(1)])
        with pytest.raises(InvalidInputError):  # JSONB refuses NUL
            await store.append("s", [NewEvent("Stored", {"text": "a\x00b"})])
        assert await _versions(store, "s") == [1]
        assert (await store.append("s", [_event(2)], 1)).version == 2


_FORMS = st.sampled_from(["any", "no_stream", "exists", "exact", "stale", "ahead"])
_OPS = st.lists(
    st.tuples(st.integers(0, 1), st.integers(0, 2), _FORMS, st.booleans()),
    min_size=1,
    max_size=25,
)


def _expected(form: str, version: int) -> ExpectedVersionArg:
    forms: dict[str, ExpectedVersionArg] = {
        "any": ExpectedVersion.ANY,
        "no_stream": ExpectedVersion.NO_STREAM,
        "exists": ExpectedVersion.STREAM_EXISTS,
        "exact": version,
        "stale": max(0, version - 1),
        "ahead": version + 1,
    }
    return forms[form]


def _model_accepts(expected: ExpectedVersionArg, version: int) -> bool:
    if expected is ExpectedVersion.ANY:
        return True
    if expected is ExpectedVersion.NO_STREAM:
        return version == 0
    if expected is ExpectedVersion.STREAM_EXISTS:
        return version > 0
    return expected == version


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=_OPS)
def test_two_stores_appending_in_turn_agree_with_the_expected_version_rules(
    postgres_dsn: str, ops: list[tuple[int, int, str, bool]]
) -> None:
    """Each op: which store, which stream, the expectation (from the true version), and
    whether that store reads the stream first (teaching it the version)."""

    async def run() -> None:
        schema = f"k_{uuid.uuid4().hex[:12]}"
        db = await PostgresDatabase.connect(postgres_dsn, schema=schema, max_size=4)
        try:
            stores = [PostgresEventStore(db), PostgresEventStore(db)]
            await stores[0].migrate()
            truth = [0, 0, 0]
            for which, stream, form, reads_first in ops:
                store, stream_id = stores[which], f"s-{stream}"
                if reads_first:
                    await store.read_stream(stream_id, backwards=True, limit=1)
                expected = _expected(form, truth[stream])
                if _model_accepts(expected, truth[stream]):
                    result = await store.append(stream_id, [_event()], expected)
                    truth[stream] += 1
                    assert result.version == truth[stream]
                else:
                    with pytest.raises(ConcurrencyError):
                        await store.append(stream_id, [_event()], expected)
            for stream, version in enumerate(truth):
                assert await _versions(stores[1], f"s-{stream}") == list(range(1, version + 1))
        finally:
            async with db.connection() as connection:
                await connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await db.close()

    asyncio.run(run())
