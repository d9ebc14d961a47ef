"""SQLite's blocking calls run on the database's worker thread, never on the event loop's.

While an append waits for another process's write lock, or its commit syncs to disk, the loop
keeps serving other tasks; reads run on the loop's thread, on a connection of their own, and
never see a transaction that is still open nor wait for one; closing the database stops its
thread and fails the calls still waiting, instead of leaving them hanging.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sqlite3
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from pathlib import Path

import pytest

from forze import EventStoreUnavailable
from forze_eventstore import SQLiteDatabase, SQLiteEventStore
from forze_eventstore.sqlite_db import Synchronous
from forze_eventstore.testing.helpers import new_events
from tests.loop_support import midway, progress_seen_meanwhile

PATIENCE = 10.0
"""Seconds a step may take before the test gives up (never reached when things work)."""

_HOLD_LOCK = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
connection.execute("ROLLBACK")
"""


@asynccontextmanager
async def write_lock_held_by_another_process(path: Path) -> AsyncIterator[None]:
    """Another process holds the file's write lock (``BEGIN IMMEDIATE``) until the block ends."""
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _HOLD_LOCK,
        str(path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert holder.stdin is not None
    assert holder.stdout is not None
    try:
        assert await asyncio.wait_for(holder.stdout.readline(), PATIENCE) == b"locked\n"
        yield
    finally:
        holder.stdin.write(b"release\n")
        await holder.stdin.drain()
        await asyncio.wait_for(holder.wait(), PATIENCE)


async def until(condition: Callable[[], bool]) -> None:
    """Wait, serving the loop, until ``condition`` holds."""
    async with asyncio.timeout(PATIENCE):
        while not condition():  # noqa: ASYNC110 - other threads change what it polls
            await asyncio.sleep(0.005)


class Ticker:
    """Counts how often the event loop served it (every 5 ms)."""

    def __init__(self) -> None:
        self.ticks = 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(0.005)
            self.ticks += 1


@asynccontextmanager
async def ticking() -> AsyncIterator[Ticker]:
    ticker = Ticker()
    async with asyncio.TaskGroup() as group:
        task = group.create_task(ticker.run())
        try:
            yield ticker
        finally:
            task.cancel()


class Gate:
    """Holds the statements that ``matches`` on their thread until :meth:`open` is called,
    and records which thread ran each statement (a trace callback on every connection)."""

    def __init__(self, matches: Callable[[str], bool]) -> None:
        self._matches = matches
        self._opened = threading.Event()
        self.reached = threading.Event()
        self.threads: list[tuple[str, threading.Thread]] = []
        self.connections: list[tuple[str, sqlite3.Connection]] = []

    def install(self, connection: sqlite3.Connection) -> None:
        connection.set_trace_callback(partial(self._trace, connection))

    def _trace(self, connection: sqlite3.Connection, statement: str) -> None:
        self.threads.append((statement, threading.current_thread()))
        self.connections.append((statement, connection))
        if self._matches(statement) and not self._opened.is_set():
            self.reached.set()
            self._opened.wait(PATIENCE)

    def open(self) -> None:
        self._opened.set()

    def ran_on(self, prefix: str) -> set[threading.Thread]:
        return {thread for statement, thread in self.threads if statement.startswith(prefix)}

    def used(self, prefix: str) -> set[sqlite3.Connection]:
        return {c for statement, c in self.connections if statement.startswith(prefix)}


@contextmanager
def database(path: Path | str, synchronous: Synchronous = "FULL") -> Iterator[SQLiteDatabase]:
    db = SQLiteDatabase(path, synchronous=synchronous)
    try:
        yield db
    finally:
        db.close()


@pytest.fixture(params=["file", "memory"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return str(tmp_path / "events.sqlite") if request.param == "file" else ":memory:"


@pytest.fixture
def syncing(tmp_path: Path) -> str:
    """A file whose commits sync (``FULL``, the default): they run on the worker."""
    return str(tmp_path / "events.sqlite")


either_mode = pytest.mark.parametrize("synchronous", ["FULL", "NORMAL"])


@either_mode
async def test_the_loop_serves_other_tasks_while_an_append_waits_for_another_processes_lock(
    tmp_path: Path, synchronous: Synchronous
) -> None:
    path = tmp_path / "events.sqlite"
    with database(path, synchronous) as db:
        store = SQLiteEventStore(db)
        await store.append("s-1", new_events(1))
        async with ticking() as ticker, write_lock_held_by_another_process(path):
            appending = asyncio.create_task(store.append("s-2", new_events(1)))
            await until(lambda: ticker.ticks >= 5)
            assert await store.head_position() == 1  # reads do not wait for the lock either
            assert not appending.done()
        assert (await asyncio.wait_for(appending, PATIENCE)).position == 2


async def test_the_loop_serves_other_tasks_while_a_commit_syncs(syncing: str) -> None:
    gate = Gate(lambda statement: statement == "COMMIT")
    with database(syncing) as db:
        store = SQLiteEventStore(db)
        db.prepare(gate.install)
        async with ticking() as ticker:
            appending = asyncio.create_task(store.append("s-1", new_events(2)))
            await until(gate.reached.is_set)
            ticks = ticker.ticks
            await until(lambda: ticker.ticks > ticks + 3)
            assert not appending.done()
            assert await store.head_position() == 0  # reads wait neither, nor see it
            gate.open()
            assert (await asyncio.wait_for(appending, PATIENCE)).position == 2
        loop_thread = threading.current_thread()
        assert loop_thread not in gate.ran_on("BEGIN") | gate.ran_on("COMMIT")


@pytest.mark.parametrize("synchronous", ["OFF", "NORMAL"])
async def test_writes_that_sync_nothing_run_on_the_loops_thread(
    place: str, synchronous: Synchronous
) -> None:
    gate = Gate(lambda statement: False)
    with database(place, synchronous) as db:
        store = SQLiteEventStore(db)
        db.prepare(gate.install)
        await store.append("s-1", new_events(2))
        async with db.transaction():
            await store.append("s-2", new_events(1))
        assert gate.ran_on("BEGIN") | gate.ran_on("COMMIT") == {threading.current_thread()}
        assert [e.position for e in await store.read_all()] == [1, 2, 3]


async def test_a_database_that_commits_inline_checkpoints_on_a_thread_of_its_own(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.sqlite"
    with database(path, "NORMAL") as db:
        store = SQLiteEventStore(db)
        assert db.connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        for round_ in range(40):
            await store.append(f"s-{round_}", new_events(100))
            await asyncio.sleep(0.01)  # the checkpointer's thread runs meanwhile
        assert any(t.name.startswith("forze-sqlite-checkpoint") for t in threading.enumerate())
        checkpointed = await asyncio.to_thread(os.path.getsize, path)
        assert checkpointed > 100 * 4096  # pages only a checkpoint copies from the WAL


async def test_reads_run_on_the_loops_thread_on_the_idle_writers_warm_connection(
    place: str,
) -> None:
    gate = Gate(lambda statement: False)
    with database(place) as db:
        store = SQLiteEventStore(db)
        db.prepare(gate.install)
        await store.append("s-1", new_events(3))
        assert len(await store.read_all(max_bytes=1)) == 1
        assert len(await store.read_stream("s-1")) == 3
        assert await store.stream_version("s-1") == 3
        reads = ("SELECT event_id", "SELECT MAX(version) FROM forze_events WHERE stream_id = ?")
        assert gate.ran_on(reads[0]) | gate.ran_on(reads[1]) == {threading.current_thread()}
        assert gate.used(reads[0]) | gate.used(reads[1]) == {db.connection}


async def test_while_the_writer_is_busy_each_thread_that_reads_gets_a_connection_of_its_own(
    syncing: str,
) -> None:
    gate = Gate(lambda statement: statement == "COMMIT")
    with database(syncing) as db:
        store = SQLiteEventStore(db)
        db.prepare(gate.install)
        appending = asyncio.create_task(store.append("s-1", new_events(1)))
        await until(gate.reached.is_set)
        assert await store.count_events() == 0
        assert await asyncio.to_thread(asyncio.run, store.count_events()) == 0
        readers = gate.used("SELECT COUNT(*)")
        assert len(readers) == 2
        assert db.connection not in readers
        gate.open()
        await asyncio.wait_for(appending, PATIENCE)


async def test_reads_never_see_another_tasks_open_transaction(place: str) -> None:
    with database(place) as db:
        store = SQLiteEventStore(db)
        await store.append("s-1", new_events(1))
        inserted, finish = asyncio.Event(), asyncio.Event()

        async def batch() -> None:
            async with db.transaction():
                await store.append("s-1", new_events(2))
                assert await store.head_position() == 3  # the owner sees its own writes
                inserted.set()
                await finish.wait()

        async with asyncio.TaskGroup() as group:
            group.create_task(batch())
            await asyncio.wait_for(inserted.wait(), PATIENCE)
            assert await store.head_position() == 1
            assert [e.position for e in await store.read_all()] == [1]
            finish.set()
        assert await store.head_position() == 3


@either_mode
async def test_a_cancelled_append_waiting_for_the_lock_writes_nothing(
    tmp_path: Path, synchronous: Synchronous
) -> None:
    path = tmp_path / "events.sqlite"
    with database(path, synchronous) as db:
        store = SQLiteEventStore(db)
        async with write_lock_held_by_another_process(path):
            appending = asyncio.create_task(store.append("s-1", new_events(1)))
            await asyncio.sleep(0.05)
            appending.cancel()
            await asyncio.sleep(0.05)
            assert not appending.done()  # its job still waits for the lock
        with pytest.raises(asyncio.CancelledError):  # got the lock, wrote nothing
            await asyncio.wait_for(appending, PATIENCE)
        assert await store.head_position() == 0
        assert (await store.append("s-1", new_events(1))).position == 1


async def test_a_call_still_waiting_when_the_database_closes_gets_a_forze_error(
    syncing: str,
) -> None:
    gate = Gate(lambda statement: statement.startswith("INSERT INTO forze_events"))
    db = SQLiteDatabase(syncing)
    store = SQLiteEventStore(db)
    db.prepare(gate.install)
    running = asyncio.create_task(store.append("s-1", new_events(1)))
    await until(gate.reached.is_set)
    waiting = asyncio.create_task(store.append("s-2", new_events(1)))
    await asyncio.sleep(0.01)
    opener = threading.Timer(0.05, gate.open)  # the running append ends; close waits for it
    opener.start()
    db.close()
    opener.join()
    assert (await asyncio.wait_for(running, PATIENCE)).position == 1
    with pytest.raises(EventStoreUnavailable, match="closed"):
        await asyncio.wait_for(waiting, PATIENCE)


async def test_a_transaction_open_when_the_database_closes_fails_instead_of_hanging(
    place: str,
) -> None:
    db = SQLiteDatabase(place)
    store = SQLiteEventStore(db)
    opened, finish = asyncio.Event(), asyncio.Event()

    async def batch() -> None:
        async with db.transaction():
            await store.append("s-1", new_events(1))
            opened.set()
            await finish.wait()

    owner = asyncio.create_task(batch())
    await asyncio.wait_for(opened.wait(), PATIENCE)
    other = asyncio.create_task(store.append("s-2", new_events(1)))  # waits for the owner
    await asyncio.sleep(0.01)
    db.close()
    finish.set()
    for task in (owner, other):
        with pytest.raises(EventStoreUnavailable):
            await asyncio.wait_for(task, PATIENCE)


async def test_closing_stops_the_worker_thread_and_later_calls_fail(place: str) -> None:
    before = set(threading.enumerate())
    db = SQLiteDatabase(place)
    store = SQLiteEventStore(db)
    await store.append("s-1", new_events(1))
    assert await store.head_position() == 1
    workers = set(threading.enumerate()) - before
    assert workers
    db.close()
    db.close()
    assert not any(thread.is_alive() for thread in workers)
    with pytest.raises(EventStoreUnavailable):
        await store.head_position()
    with pytest.raises(EventStoreUnavailable):
        await store.append("s-1", new_events(1))


async def test_a_database_dropped_without_closing_stops_its_thread(place: str) -> None:
    before = set(threading.enumerate())
    store = SQLiteEventStore(SQLiteDatabase(place))
    await store.append("s-1", new_events(1))
    assert await store.head_position() == 1
    workers = set(threading.enumerate()) - before
    del store
    gc.collect()
    for thread in workers:
        thread.join(PATIENCE)
        assert not thread.is_alive()


async def test_a_read_only_database_starts_no_thread(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    with database(path) as db:
        await SQLiteEventStore(db).append("s-1", new_events(2))
    before = set(threading.enumerate())
    with SQLiteDatabase(path, read_only=True) as db:
        assert await SQLiteEventStore(db).head_position() == 2
        assert set(threading.enumerate()) == before


CALLS_IN_A_ROW = 1000


async def appends(store: SQLiteEventStore, done: list[int]) -> None:
    for n in range(CALLS_IN_A_ROW):
        await store.append(f"s-{n}", new_events(1))
        done.append(n)


async def reads(store: SQLiteEventStore, done: list[int]) -> None:
    for n in range(CALLS_IN_A_ROW):
        await store.read_stream("s-0")
        done.append(n)


async def transactions(store: SQLiteEventStore, done: list[int]) -> None:
    for n in range(CALLS_IN_A_ROW):
        async with store.db.transaction():
            await store.append(f"t-{n}", new_events(1))
        done.append(n)


@pytest.mark.parametrize("calls", [appends, reads, transactions])
@pytest.mark.parametrize("synchronous", ["OFF", "NORMAL"])
async def test_a_task_making_inline_calls_in_a_row_lets_the_other_tasks_run_meanwhile(
    tmp_path: Path,
    synchronous: Synchronous,
    calls: Callable[[SQLiteEventStore, list[int]], Awaitable[None]],
) -> None:
    """None of these calls suspends on its own (they run on the loop's thread), yet the loop
    turns every millisecond or so: the other task sees the run at many points of its way."""
    with database(tmp_path / "events.sqlite", synchronous) as db:
        store = SQLiteEventStore(db)
        await store.append("s-0", new_events(3))
        done: list[int] = []
        seen = await progress_seen_meanwhile(calls(store, done), done)
        assert len(midway(seen, CALLS_IN_A_ROW)) >= 5, f"the loop turned only at {sorted(seen)}"
