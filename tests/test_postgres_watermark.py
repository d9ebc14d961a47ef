"""The PostgreSQL feed's watermark: no reader passes a position that a running appender may
still fill, and nothing else holds readers back.

PostgreSQL hands a transaction its id a few instructions before it locks that id. An appender
caught in between holds the feed lock and has an id, yet the lock table shows no id for it;
a watermark built from the lock table alone let readers pass its events for good (a tailing
reader of a loaded CI run waited for them until it timed out). The watermark now also counts
the ids its snapshot lists as running that the lock table does not show, as long as they are
still running: one that ended between the snapshot and the read of the lock table (any
transaction of the cluster) held a reader back below its own committed append.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forze.contracts import NewEvent
from forze_postgres import PostgresDatabase, PostgresEventStore
from forze_postgres._event_ddl import migrations
from forze_postgres._event_sql import WATERMARK_OF, lock_key
from tests.postgres_support import fresh_schema, fresh_store

FEED_LOCK = lock_key("any_schema")
HALVES = (FEED_LOCK >> 32, FEED_LOCK & 0xFFFFFFFF)
FAKE_WATERMARK = WATERMARK_OF.format(
    snapshot="$3::text::pg_snapshot",
    locks="fake_locks",
    running="x::text::bigint = ANY($4::bigint[])",  # the made-up server's running ids
)
REAL_STATUS_WATERMARK = WATERMARK_OF.format(
    snapshot="$3::text::pg_snapshot",
    locks="fake_locks",
    running="pg_xact_status(x) = 'in progress'",
)


@dataclass(frozen=True)
class Xact:
    """One transaction of a made-up server, as a reader's statement finds it.

    ``state``: ``locked`` (running, its id's lock in the lock table), ``window`` (running,
    its id handed out but not locked yet), ``ended`` (ended after the reader's snapshot was
    taken, before the lock table was read) or ``gone`` (ended before the snapshot).
    """

    offset: int
    appends: bool
    state: str


_XACTS = st.lists(
    st.builds(
        Xact,
        offset=st.integers(0, 60),
        appends=st.booleans(),
        state=st.sampled_from(["locked", "window", "ended", "gone"]),
    ),
    max_size=8,
    unique_by=lambda x: x.offset,
)


def _id(base: int, offset: int) -> int:
    """The id ``offset`` ids after ``base``; past a 32-bit wrap PostgreSQL skips its three
    special ids (0, 1 and 2)."""
    xid = base + offset
    return xid + 3 if xid >> 32 > base >> 32 else xid


def _lock_rows(base: int, xacts: list[Xact], idle_appenders: int) -> list[tuple[object, ...]]:
    """The lock table: feed-lock holders, id locks, and locks the watermark must ignore."""
    rows: list[tuple[object, ...]] = []
    for n, x in enumerate(xacts):
        vxid, xid32 = f"{n + 3}/7", str(_id(base, x.offset) & 0xFFFFFFFF)
        if x.state in ("locked", "window") and x.appends:
            rows.append(("advisory", vxid, None, *HALVES, 1, True))
        if x.state == "locked":
            rows.append(("transactionid", vxid, xid32, None, None, None, True))
            # its stream's lock (two-int4 form) and a wait for another id: neither counts
            rows.append(("advisory", vxid, None, HALVES[0] & 0x7FFFFFFF, 99, 2, True))
            waited_for = str(_id(base, 61) & 0xFFFFFFFF)
            rows.append(("transactionid", vxid, waited_for, None, None, None, False))
    for n in range(idle_appenders):  # appenders that have no id yet
        rows.append(("advisory", f"{n + 40}/1", None, *HALVES, 1, True))
    rows.append(("advisory", "90/1", None, HALVES[0], HALVES[1] ^ 1, 1, True))  # another schema
    rows.append(("transactionid", "90/1", str((base - 5) & 0xFFFFFFFF), *[None] * 3, True))
    return rows


def _snapshot(base: int, xmax: int, xacts: list[Xact]) -> str:
    running = sorted(
        _id(base, x.offset)
        for x in xacts
        if x.offset < xmax and x.state in ("locked", "window", "ended")
    )
    xmin = running[0] if running else _id(base, xmax)
    return f"{xmin}:{_id(base, xmax)}:{','.join(map(str, running))}"


def _expected(base: int, xmax: int, xacts: list[Xact], idle_appenders: int) -> int:
    """What the watermark means: the snapshot's xmax, held below every running appender whose
    id the lock table shows, and, while some appender's id is not shown (it has none yet, or
    is between getting and locking it), every id running at the snapshot that the table does
    not show and that is still running (not one that ended since)."""
    unseen_appender = idle_appenders > 0 or any(x.appends and x.state == "window" for x in xacts)
    held = [
        _id(base, x.offset)
        for x in xacts
        if (x.appends and x.state == "locked")
        or (unseen_appender and x.offset < xmax and x.state == "window")
    ]
    return min([_id(base, xmax), *held])


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    base=st.sampled_from([5, 2**32 - 30, 7 * 2**32 + 2**31 - 20, 3 * 2**32 - 1]),
    xmax=st.integers(0, 61),
    xacts=_XACTS,
    idle_appenders=st.integers(0, 2),
)
def test_the_watermark_stays_at_or_below_every_running_appender_and_ignores_everything_else(
    postgres_dsn: str, base: int, xmax: int, xacts: list[Xact], idle_appenders: int
) -> None:
    """Made-up lock tables and snapshots, ids around the 32-bit wrap, through the real SQL."""

    async def run() -> int:
        connection = await asyncpg.connect(postgres_dsn)
        try:
            await connection.execute(
                "CREATE TEMP TABLE fake_locks (locktype text, virtualtransaction text,"
                " transactionid xid, classid oid, objid oid, objsubid int2, granted bool)"
            )
            await connection.executemany(
                "INSERT INTO fake_locks VALUES ($1, $2, $3::text::xid, $4, $5, $6, $7)",
                _lock_rows(base, xacts, idle_appenders),
            )
            running = [_id(base, x.offset) for x in xacts if x.state in ("locked", "window")]
            watermark: int = await connection.fetchval(
                FAKE_WATERMARK, *HALVES, _snapshot(base, xmax, xacts), running
            )
            return watermark
        finally:
            await connection.close()

    watermark = asyncio.run(run())
    for x in xacts:
        if x.appends and x.state in ("locked", "window"):
            assert watermark <= _id(base, x.offset), f"a reader may pass running appender {x}"
    assert watermark == _expected(base, xmax, xacts, idle_appenders)


async def _real_status_watermark(connection: asyncpg.Connection, snapshot: str) -> int:
    """The watermark over ``snapshot`` and an empty lock table, asking the server whether the
    snapshot's ids are still running."""
    await connection.execute(
        "CREATE TEMP TABLE IF NOT EXISTS fake_locks (locktype text, virtualtransaction text,"
        " transactionid xid, classid oid, objid oid, objsubid int2, granted bool)"
    )
    watermark: int = await connection.fetchval(REAL_STATUS_WATERMARK, *HALVES, snapshot)
    return watermark


async def test_a_transaction_that_ended_after_the_snapshot_does_not_hold_the_feed_back(
    postgres_dsn: str,
) -> None:
    """The snapshot lists it, the lock table no longer shows it: it ended in between (it
    could be any transaction of the cluster), so it can add nothing, and readers pass it. One
    still running is waited for only while an appender's id may be the one not shown."""
    connection = await asyncpg.connect(postgres_dsn)
    other = await asyncpg.connect(postgres_dsn)
    try:
        async with other.transaction():
            ended = int(await other.fetchval("SELECT pg_current_xact_id()::text"))
        snapshot = f"{ended}:{ended + 1}:{ended}"
        assert await _real_status_watermark(connection, snapshot) == ended + 1
        transaction = other.transaction()
        await transaction.start()
        try:  # still running, its lock not in the (made-up) table: the window of stop 7
            running = int(await other.fetchval("SELECT pg_current_xact_id()::text"))
            snapshot = f"{running}:{running + 1}:{running}"
            # no appender in that moment: it is another transaction of the cluster
            assert await _real_status_watermark(connection, snapshot) == running + 1
            await connection.execute(  # an appender whose id the table does not show
                "INSERT INTO fake_locks VALUES ('advisory', '9/9', NULL, $1, $2, 1, TRUE)",
                *HALVES,
            )
            assert await _real_status_watermark(connection, snapshot) == running
        finally:
            await transaction.rollback()
    finally:
        await other.close()
        await connection.close()


async def test_a_long_transaction_that_does_not_append_does_not_hold_the_feed_back(
    postgres_dsn: str,
) -> None:
    async with fresh_store(postgres_dsn) as (_db, store):
        other = await asyncpg.connect(postgres_dsn)
        try:
            async with other.transaction():
                await other.fetchval("SELECT pg_current_xact_id()")  # an id, long before
                stored = await store.append("order-1", [NewEvent("Placed", {})])
                assert [e.position for e in await store.read_all()] == [stored.position]
                assert await store.head_position() == stored.position
        finally:
            await other.close()


async def test_a_schema_of_the_previous_release_gets_the_new_watermark(postgres_dsn: str) -> None:
    async with fresh_schema(postgres_dsn) as db:
        await db.migrate("events", migrations(tenant_column=False)[:3])
        store = PostgresEventStore(db)
        await store.migrate()
        async with db.connection() as connection:
            body = await connection.fetchval(
                "SELECT prosrc FROM pg_proc WHERE proname = 'forze_watermark'"
                " AND pronamespace = $1::regnamespace",
                db.schema,
            )
        assert "pg_snapshot_xip" in body
        stored = await store.append("order-1", [NewEvent("Placed", {})])
        assert [e.position for e in await store.read_all()] == [stored.position]
        await store.close()


# The real race, made to happen every time: a debugger stops an appender's server process
# where PostgreSQL has handed its transaction an id and not yet locked it.


def _can_pause_the_server(pid: int) -> bool:
    exe = Path(f"/proc/{pid}/exe")
    try:
        return shutil.which("gdb") is not None and "postgres" in os.readlink(exe)
    except OSError:  # another machine's server, or no right to look
        return False


def _reached(marker: Path) -> bool:
    """Whether gdb has touched ``marker`` (a file check is quick enough for a test's loop)."""
    return marker.exists()


class _Paused:
    """gdb attached to one server process, stopping it at ``XactLockTableInsert`` (the id
    is handed out; its lock is not taken yet) until :meth:`release`."""

    def __init__(self, pid: int, folder: Path) -> None:
        self.attached, self.hit, self.go = folder / "attached", folder / "hit", folder / "go"
        wait_for_go = f"while [ ! -e {self.go} ]; do sleep 0.01; done"
        self.gdb = subprocess.Popen(
            [
                "gdb", "-p", str(pid), "-batch", "-nx",
                "-ex", "handle all nostop noprint pass",
                "-ex", "break XactLockTableInsert",
                "-ex", f"shell touch {self.attached}",
                "-ex", "continue",
                "-ex", f"shell touch {self.hit}",
                "-ex", f"shell {wait_for_go}",
                "-ex", "detach",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    async def wait_for(self, marker: Path, seconds: float = 30.0) -> None:
        deadline = time.monotonic() + seconds
        while not _reached(marker):
            if self.gdb.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"gdb did not reach {marker.name}")
            await asyncio.sleep(0.01)

    def release(self) -> None:
        """Let the process go on (and gdb end)."""
        self.go.touch()
        try:
            self.gdb.wait(30)
        except subprocess.TimeoutExpired:
            self.gdb.kill()
            raise


async def test_a_reader_does_not_pass_an_appender_that_has_its_id_but_has_not_locked_it(
    postgres_dsn: str, tmp_path: Path
) -> None:
    async with fresh_store(postgres_dsn) as (db, store):
        await store.append("warm-1", [NewEvent("Warm", {})])
        slow_db = await PostgresDatabase.connect(
            postgres_dsn, schema=db.schema, min_size=1, max_size=1
        )
        try:
            slow = PostgresEventStore(slow_db)
            async with slow_db.connection() as connection:
                pid = int(await connection.fetchval("SELECT pg_backend_pid()"))
            if not _can_pause_the_server(pid):
                pytest.skip("needs gdb and a PostgreSQL server process on this machine")
            paused = _Paused(pid, tmp_path)
            late = None
            try:
                await paused.wait_for(paused.attached)
                await asyncio.sleep(0.2)  # gdb has resumed the process
                late = asyncio.ensure_future(slow.append("late-1", [NewEvent("Late", {})]))
                await paused.wait_for(paused.hit)
                cursor = (await store.read_all())[-1].position
                await store.append("early-1", [NewEvent("Early", {})])  # a later id, committed
                page = await store.read_all(after=cursor)
                cursor = page[-1].position if page else cursor
            finally:
                paused.release()
            assert late is not None
            stored = await late
            assert stored.position > cursor, "the reader passed the paused appender's position"
            rest = await store.read_all(after=cursor)
            assert "Late" in [e.event_type for e in rest]
            await slow.close()
        finally:
            await slow_db.close()


_BUSY_PEER = """
import asyncio, sys, time
import asyncpg

async def main(dsn: str, seconds: float) -> None:
    async def churn() -> None:
        connection = await asyncpg.connect(dsn)
        try:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                async with connection.transaction():
                    await connection.fetchval("SELECT pg_current_xact_id()")
        finally:
            await connection.close()
    await asyncio.gather(*(churn() for _ in range(12)))

asyncio.run(main(sys.argv[1], float(sys.argv[2])))
"""


async def test_an_append_is_in_the_next_read_while_another_process_commits_all_the_time(
    postgres_dsn: str,
) -> None:
    """Another application on the server (a process of its own, committing short
    transactions without a pause) must not hide a reader's own committed append from it."""
    peer = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _BUSY_PEER, postgres_dsn, "20"
    )
    try:
        async with fresh_store(postgres_dsn) as (_db, store):
            await asyncio.sleep(0.5)  # the peer is committing by now
            deadline = time.monotonic() + 8
            appended = 0
            while time.monotonic() < deadline:
                stored = await store.append(f"order-{appended}", [NewEvent("Placed", {})])
                appended += 1
                feed = await store.read_all(after=stored.position - 1)
                assert [e.position for e in feed] == [stored.position], f"append {appended}"
            assert appended >= 50
    finally:
        peer.kill()
        await peer.wait()
