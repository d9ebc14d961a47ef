"""``SQLiteDatabase``: one embedded SQLite file shared by the SQLite stores.

The event store, snapshot store, checkpoints and read models of one file share a connection so
that their writes can commit in one transaction (projections commit their checkpoint with their
read-model writes). A write transaction belongs to one asyncio task at a time (see
``transaction``).

Nothing that can block runs on the event loop's thread, and a store call costs at most one
thread round trip:

- Two steps of a write can block: ``BEGIN IMMEDIATE`` (which waits up to ``busy_timeout_ms``
  for another process's write lock) and a ``COMMIT`` that syncs the WAL to disk
  (``synchronous`` ``FULL`` or ``EXTRA``). They run on the writer's worker thread
  (``_sqlite_worker``). The statements of an open transaction run on the owning task's thread,
  between them: the transaction holds the write lock, so they wait for no lock and sync
  nothing. A store call that needs no ``await`` inside its transaction (:meth:`write`) is one
  job, and the calls that wait for the worker meanwhile share its transaction and its sync
  (``_sqlite_group``).
- A step that cannot block runs on the caller's thread instead, with no hop
  (``_sqlite_inline``): ``BEGIN IMMEDIATE`` when the write lock is free, and the whole write
  when commits sync nothing (``OFF``, ``NORMAL``); SQLite's checkpoints, which sync, then run
  on a thread of their own.
- Reads run on the calling thread, with no hop, on a read connection of its own (one per
  thread that reads: in practice the loop's, so none is ever used by two threads at once). In
  WAL mode such a reader sees the last commit, never another task's open transaction, and
  never waits for a writer, so a read of a page is CPU and page-cache work like any other on
  the loop. The owner of the transaction reads on the writer's connection, so it sees its own
  writes. A ``":memory:"`` database cannot have a second connection (SQLite's shared in-memory
  databases lock whole tables instead), so it is a private file in a temporary folder, without
  syncing, removed on close.
- A ``read_only`` database has no thread at all: it never writes, and its reads wait for no
  writer.
- A call that runs inline never suspends, so before each call the database lets the loop turn
  when it has not for a millisecond (``forze.adapter_kit.LoopTurns``): a task making
  thousands of calls in a row never keeps the process's other tasks waiting for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import tempfile
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, NoReturn, TypeVar, cast

from forze.adapter_kit import LoopTurns
from forze.domain.errors import EventStoreUnavailable, ReadOnlyOperationError, WiringError
from forze_eventstore._sqlite_group import GroupCommit
from forze_eventstore._sqlite_inline import Checkpointer, InlineWrites
from forze_eventstore._sqlite_schema import Migration, apply_steps, check_schema, stored_version
from forze_eventstore._sqlite_worker import (
    Job,
    Lane,
    Readers,
    close_all,
    connect_writer,
    open_read_only,
    open_reader,
    roll_back,
    wait_to_end,
)

__all__ = ["Migration", "SQLiteDatabase", "Synchronous"]

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
Setup = Callable[[sqlite3.Connection], None]
"""Prepares a connection (defines SQL functions); run on each connection the database opens."""

T = TypeVar("T")


class SQLiteDatabase:
    """An open SQLite file (or ``":memory:"``) with versioned, idempotent schema migrations.

    ``synchronous`` is SQLite's durability setting: ``FULL`` (the default) syncs the WAL on
    every commit, so an append that returned survives power loss; ``NORMAL`` is faster and
    survives a crash of the process but may lose the last commits on power loss.

    A ``FULL`` commit runs on the writer's worker thread, so the event loop serves other tasks
    while it syncs; the writes that wait meanwhile commit together, in one transaction and one
    sync. ``OFF`` and ``NORMAL`` commits sync nothing, so they run on the caller's thread.

    ``read_only=True`` inspects an existing file without changing it: no table is created, the
    journal mode is left alone, no file appears beside it (see the ``_sqlite_readonly`` module),
    a read-only medium works, and a write raises ``ReadOnlyOperationError``.
    Stores created on it check that their schema is there instead of migrating it.

    Reads use the calling thread's own connection (see the module): call the async methods
    from the event loop's thread. :meth:`close` stops the worker thread; a call still pending
    then raises ``EventStoreUnavailable``. A database dropped without closing stops it when
    collected.
    """

    _main: Lane
    """The writer's connection and thread (writable databases only: a read-only one starts
    no thread)."""

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        synchronous: Synchronous = "FULL",
        busy_timeout_ms: int = 5000,
        read_only: bool = False,
    ) -> None:
        self.path = str(path)
        self.read_only = read_only
        self._after_commit: list[Callable[[], None]] = []
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._turns = LoopTurns()
        self._setups: list[Setup] = []
        self._lanes: list[Lane] = []
        """The writer's (none when read-only)."""
        folders: list[str] = []
        file = self.path
        """The file opened: a temporary one for ``":memory:"``."""
        if not read_only and self.path in ("", ":memory:"):
            folders.append(tempfile.mkdtemp(prefix="forze-memory-"))
            file = f"{folders[0]}/memory.sqlite"
            synchronous = "OFF"
        self._readers = Readers(
            self.path,
            partial(open_read_only, self.path, busy_timeout_ms)
            if read_only
            else partial(open_reader, self.path, file, busy_timeout_ms),
            self._setups,
        )
        self._finalizer = weakref.finalize(self, close_all, self._lanes, self._readers, folders)
        try:
            if read_only:
                self._readers.connection()  # fails now if the file cannot be read
            else:
                self._main = Lane(f"forze-sqlite {self.path}", self.path)
                self._lanes.append(self._main)
                self._main.connection = connect_writer(
                    self.path, file, busy_timeout_ms, synchronous
                )
                self._group = GroupCommit(self._main, self.path)
                checkpointer = None
                if synchronous in ("OFF", "NORMAL"):  # commits sync nothing: they run inline
                    self._main.connection.execute("PRAGMA wal_autocheckpoint = 0")
                    checkpointer = Checkpointer(self.path, file)
                    self._lanes.append(checkpointer.lane)
                self._inline = InlineWrites(
                    self._main, self._group, self.path, busy_timeout_ms, checkpointer
                )
        except BaseException:
            self.close()
            raise

    @property
    def connection(self) -> sqlite3.Connection:
        """The connection writes use, for statements inside the calling task's transaction; a
        read-only database's, for the calling thread (reopened first if a writer changed the
        file since it was opened ``immutable``, so that reads see the writer's commits)."""
        if self.read_only:
            return self._readers.connection()
        return self._writer()

    def _writer(self) -> sqlite3.Connection:
        connection = self._main.connection
        if connection is None:
            raise EventStoreUnavailable(f"SQLite {self.path!r} is closed")
        return connection

    # -- set-up (synchronous: stores call these when they are created) -----------------------

    def prepare(self, setup: Setup) -> None:
        """Run ``setup`` on every connection of this database, now and whenever one opens
        (once per function: preparing again with the same one does nothing). Read
        connections run it before their next read."""
        if setup in self._setups:
            return
        self._setups.append(setup)
        if not self.read_only:
            self.call(setup)

    def call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` on the writer's connection and wait for it, blocking the calling thread:
        for the set-up stores make when they are created. Inside the calling task's open
        transaction it runs there; otherwise it joins whatever transaction is open. On a
        read-only database it runs on the calling thread's connection."""
        if self.read_only:
            return self._readers.read(work)
        if self.in_transaction:
            return self._translated(work, self._writer())
        return self._main.worker.call(lambda: self._translated(work, self._writer()))

    def _translated(self, work: Callable[[sqlite3.Connection], T], connection: Any) -> T:
        try:
            result: T = work(connection)
        except sqlite3.Error as error:
            raise EventStoreUnavailable(f"SQLite {self.path!r}: {error}") from error
        return result

    def schema_version(self, component: str) -> int:
        """The schema version of ``component`` stored in the file (0 when it has none)."""
        return self.call(partial(stored_version, component))

    def migrate(self, component: str, steps: Sequence[Migration]) -> int:
        """Apply the steps of ``component`` not applied yet; return its schema version (see
        ``_sqlite_schema``). A read-only database only checks the schema is there.

        Runs when a store is created, before any transaction of this database is open.
        """
        if self._owner is not None:
            raise WiringError("create SQLite stores before a transaction of their database runs")
        if self.read_only:
            return check_schema(self.path, component, self.schema_version(component), len(steps))
        return self._main.worker.call(
            partial(self._in_transaction, partial(apply_steps, self.path, component, steps))
        )

    # -- writes ---------------------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``) owned by the calling task.

        Other tasks wait for it to end, so work that awaits inside the transaction (projection
        handlers) never lets another task's writes slip into it; the owner's nested calls join
        it. Callbacks registered with :meth:`after_commit` run once the outermost one commits.
        SQLite errors become ``EventStoreUnavailable``; forze errors pass through. Either way
        the transaction is rolled back and nothing is written. Begin and commit run on the
        worker when they could block, inline otherwise; the statements of the body run on the
        caller's thread (see the module).
        """
        if self.in_transaction:
            yield self._writer()
            return
        self._check_writable()
        await self._turns.share()
        committed = False
        async with self._lock:
            self._owner = asyncio.current_task()
            try:
                try:
                    if not self._inline.begin():
                        await self._main.worker.run_to_end(self._begin)
                    yield self._writer()
                except BaseException as error:
                    await self._roll_back(error)
                committed = self._inline.commit()
                if not committed:
                    commit = self._main.worker.start(self._commit)
                    try:
                        await wait_to_end(commit)
                    finally:
                        ended = commit.future  # the one that got the outcome
                        committed = (
                            ended.done() and not ended.cancelled() and ended.exception() is None
                        )
            finally:
                self._owner = None
                callbacks, self._after_commit = self._after_commit, []
        if committed:
            for callback in callbacks:
                callback()

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in a write transaction and return its result.

        Inside the calling task's open transaction ``work`` runs there. When commits sync
        nothing and the writer is free, it runs on the calling thread (see ``_sqlite_inline``).
        Otherwise it runs on the worker, after any transaction already waiting, grouped with
        the other writes waiting for the worker in one transaction and one commit (see
        ``_sqlite_group``): one thread hop per call, one sync per group. A write of a group
        that raises is rolled back alone; a group whose commit fails stores none of its
        writes, and each gets the error. :meth:`after_commit` then runs its callback at once.
        """
        await self._turns.share()
        if self.in_transaction:
            return self._translated(work, self._writer())
        self._check_writable()
        if not self._lock.locked():  # no transaction holds or awaits it: perhaps inline
            done, result = self._inline.write(work)
            if done:
                return cast(T, result)
        async with self._lock:  # queued after a transaction that holds or awaits the lock
            job: Job[T] = Job()
            self._group.add(work, job)
        return await wait_to_end(job)

    def _check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyOperationError(f"SQLite {self.path!r} is open read-only: cannot write")

    def _in_transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` between ``BEGIN IMMEDIATE`` and ``COMMIT``, rolled back if it raises (a
        job on the writer's worker)."""
        self._begin()
        try:
            result = work(self._writer())
        except BaseException as error:
            self._rollback_now()
            if isinstance(error, sqlite3.Error):
                raise EventStoreUnavailable(f"SQLite {self.path!r}: {error}") from error
            raise
        self._commit()
        return result

    def _begin(self) -> None:
        try:
            self._writer().execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise EventStoreUnavailable(f"SQLite {self.path!r}: {error}") from error

    def _commit(self) -> None:
        connection = self._writer()
        try:
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            self._rollback_now()
            raise EventStoreUnavailable(f"SQLite {self.path!r}: {error}") from error

    def _rollback_now(self) -> None:
        roll_back(self._main.connection)

    async def _roll_back(self, error: BaseException) -> NoReturn:
        """Roll back on the worker (a ``BEGIN`` may have gone through before a cancellation),
        then raise ``error``, a SQLite error as ``EventStoreUnavailable``."""
        self._after_commit.clear()
        with contextlib.suppress(EventStoreUnavailable):  # closed meanwhile: that rolled back
            await self._main.worker.run_to_end(self._rollback_now)
        if isinstance(error, sqlite3.Error):
            raise EventStoreUnavailable(f"SQLite {self.path!r}: {error}") from error
        raise error

    @property
    def in_transaction(self) -> bool:
        """Whether the calling task holds this database's write transaction."""
        if self._owner is None:
            return False
        try:
            return self._owner is asyncio.current_task()
        except RuntimeError:  # no event loop in this thread: no task can hold it
            return False

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` after the calling task's transaction commits (dropped on rollback);
        at once when the calling task holds none (its write committed already)."""
        if self.in_transaction:
            self._after_commit.append(callback)
        else:
            callback()

    # -- reads ----------------------------------------------------------------------------------

    async def read(self, sql: str, parameters: Sequence[object] = ()) -> list[Any]:
        """Run a read-only statement and return every row (see :meth:`read_with`)."""
        return await self.read_with(partial(_fetch_all, sql, parameters))

    async def read_with(self, fetch: Callable[[sqlite3.Connection], T]) -> T:
        """``fetch(connection)`` on the calling thread, on a connection that only shows
        committed rows (see the module); the owner of the open transaction sees its own writes.
        SQLite errors become ``EventStoreUnavailable``."""
        await self._turns.share()
        if self.in_transaction:
            return self._translated(fetch, self._writer())
        if not self.read_only:
            idle = self._main.worker.busy
            if idle.acquire(blocking=False):  # no job runs: the writer's warm cache may serve
                try:
                    connection = self._main.connection
                    if connection is not None and not connection.in_transaction:
                        return self._translated(fetch, connection)
                finally:
                    idle.release()
        return self._readers.read(fetch)

    # -- closing --------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the worker threads and close the connections (idempotent). A call running on
        a worker ends first; calls still waiting raise ``EventStoreUnavailable``."""
        self._finalizer()

    def __enter__(self) -> SQLiteDatabase:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _fetch_all(sql: str, parameters: Sequence[object], connection: sqlite3.Connection) -> Any:
    return connection.execute(sql, parameters).fetchall()
