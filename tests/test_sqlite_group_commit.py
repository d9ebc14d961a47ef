"""Writes that wait while the SQLite writer is busy commit together, and mean what they would
one after the other.

Each test holds the first append's ``COMMIT`` on the writer's thread (a ``Gate``), queues
more appends behind it, then lets it go: the queued appends run as one group, in one
transaction and one commit, each in a savepoint of its own.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forze import ConcurrencyError, EventStoreUnavailable
from forze.contracts import ExpectedVersion, ExpectedVersionArg
from forze_eventstore import SQLiteDatabase, SQLiteEventStore
from forze_eventstore.testing.helpers import new_events
from tests.test_sqlite_event_loop import PATIENCE, Gate, until


async def _queued_behind_a_held_commit(
    db: SQLiteDatabase, store: SQLiteEventStore, appends: Sequence[tuple[str, ExpectedVersionArg]]
) -> tuple[Gate, list[object]]:
    """Append ``appends`` while a first append's commit is held; return their outcomes (a
    result or the error) and the gate, which saw every statement."""
    gate = Gate(lambda statement: statement == "COMMIT")
    db.prepare(gate.install)
    first = asyncio.create_task(store.append("held", new_events(1)))
    await until(gate.reached.is_set)
    tasks = [asyncio.create_task(store.append(s, new_events(1), e)) for s, e in appends]
    for _ in range(3):
        await asyncio.sleep(0)  # each task runs up to its wait for the writer
    gate.open()
    await asyncio.wait_for(first, PATIENCE)
    outcomes = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), PATIENCE)
    return gate, list(outcomes)


async def test_appends_waiting_for_the_writer_share_one_commit(tmp_path: Path) -> None:
    with SQLiteDatabase(tmp_path / "events.sqlite") as db:
        store = SQLiteEventStore(db)
        gate, outcomes = await _queued_behind_a_held_commit(
            db, store, [(f"s-{n}", ExpectedVersion.NO_STREAM) for n in range(8)]
        )
        commits = [s for s, _ in gate.threads if s == "COMMIT"]
        assert len(commits) == 2  # the held append's, then the group's
        assert [o.position for o in outcomes] == list(range(2, 10))  # type: ignore[attr-defined]
        assert [e.stream_id for e in await store.read_all()] == ["held"] + [
            f"s-{n}" for n in range(8)
        ]


async def test_a_failing_write_of_a_group_gets_its_error_and_the_others_commit(
    tmp_path: Path,
) -> None:
    with SQLiteDatabase(tmp_path / "events.sqlite") as db:
        store = SQLiteEventStore(db)
        _, outcomes = await _queued_behind_a_held_commit(
            db, store, [("a", ExpectedVersion.NO_STREAM), ("held", 5), ("b", ExpectedVersion.ANY)]
        )
        assert isinstance(outcomes[1], ConcurrencyError)
        assert [e.stream_id for e in await store.read_all()] == ["held", "a", "b"]
        assert await store.stream_version("held") == 1


async def test_a_group_whose_commit_fails_stores_nothing_and_tells_every_write(
    tmp_path: Path,
) -> None:
    with SQLiteDatabase(tmp_path / "events.sqlite") as db:
        store = SQLiteEventStore(db)
        db.prepare(_enforce_foreign_keys)
        await db.write(_deferred_foreign_key)
        gate = Gate(lambda statement: statement == "COMMIT")
        db.prepare(gate.install)
        first = asyncio.create_task(store.append("held", new_events(1)))
        await until(gate.reached.is_set)
        appending = asyncio.create_task(store.append("a", new_events(1)))
        orphan = asyncio.create_task(db.write(_insert_orphan))  # fails only at COMMIT
        await asyncio.sleep(0)
        gate.open()
        await asyncio.wait_for(first, PATIENCE)
        for task in (appending, orphan):
            with pytest.raises(EventStoreUnavailable, match="FOREIGN KEY"):
                await asyncio.wait_for(task, PATIENCE)
        assert [e.stream_id for e in await store.read_all()] == ["held"]
        assert (await store.append("a", new_events(1))).position == 2  # the writer goes on


def _enforce_foreign_keys(connection: sqlite3.Connection) -> None:
    connection.execute("PRAGMA foreign_keys = ON")


def _deferred_foreign_key(connection: sqlite3.Connection) -> None:
    connection.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    connection.execute(
        "CREATE TABLE child (parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
    )


def _insert_orphan(connection: sqlite3.Connection) -> None:
    connection.execute("INSERT INTO child (parent) VALUES (42)")


Plan = list[tuple[int, int | None]]
"""Appends in submission order: (stream number, expected version or None for ANY)."""


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=st.lists(st.tuples(st.integers(0, 2), st.none() | st.integers(0, 3)), max_size=12))
def test_a_group_means_what_its_appends_mean_one_after_the_other(
    tmp_path_factory: pytest.TempPathFactory, plan: Plan
) -> None:
    path = tmp_path_factory.mktemp("group") / "events.sqlite"
    asyncio.run(_check_plan(path, plan))


async def _check_plan(path: Path, plan: Plan) -> None:
    with SQLiteDatabase(path) as db:
        store = SQLiteEventStore(db)
        appends: list[tuple[str, ExpectedVersionArg]] = [
            (f"s-{n}", ExpectedVersion.ANY if v is None else v) for n, v in plan
        ]
        _, outcomes = await _queued_behind_a_held_commit(db, store, appends)
        versions: dict[str, int] = {}
        stored: list[str] = ["held"]
        for (stream, expected), outcome in zip(appends, outcomes, strict=True):
            current = versions.get(stream, 0)
            if expected is ExpectedVersion.ANY or expected == current:
                versions[stream] = current + 1
                stored.append(stream)
                assert outcome.version == current + 1  # type: ignore[attr-defined]
            else:
                assert isinstance(outcome, ConcurrencyError)
        feed = await store.read_all()
        assert [e.stream_id for e in feed] == stored
        assert [e.position for e in feed] == list(range(1, len(stored) + 1))
