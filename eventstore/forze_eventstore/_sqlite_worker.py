"""The connections of a ``SQLiteDatabase``: the writer's worker thread and the readers.

A commit's fsync and a ``BEGIN IMMEDIATE`` waiting for another process's write lock block
their thread, so the writer's connection gets a ``Worker``: the event loop submits a job and
awaits it, and keeps serving its other tasks meanwhile. The thread runs the jobs one at a time,
in the order they were submitted, so the connection's statements stay serialized.

Reads need no thread: a WAL reader sees the last commit and never waits for a writer, so a read
of a page is work like any other on the loop. ``Readers`` gives each thread that reads a
connection of its own (in practice the event loop's thread), so no connection is ever used by
two threads at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import shutil
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from functools import partial
from typing import Any, Generic, TypeVar

from forze.domain.errors import EventStoreUnavailable
from forze_eventstore._sqlite_readonly import (
    FileState,
    companions_exist,
    connect_read_only,
    file_state,
)

__all__ = [
    "Job",
    "Lane",
    "Readers",
    "Worker",
    "close_all",
    "connect_writer",
    "open_checkpointer",
    "open_read_only",
    "open_reader",
    "roll_back",
    "wait_to_end",
]

T = TypeVar("T")
Deliver = Callable[[bool, Any], None]
"""Takes a job's outcome on the worker's thread: ``(True, result)`` or ``(False, error)``."""
Setup = Callable[[sqlite3.Connection], None]
Opened = tuple[sqlite3.Connection, FileState | None]
"""A read connection and, when it was opened ``immutable``, the file's state at that time."""


class Job(Generic[T]):
    """A job's outcome on its way to the event loop: one ``call_soon_threadsafe`` from the
    worker's thread sets :attr:`future`, which the caller awaits.

    ``abandoned`` is set when the caller was cancelled (see :func:`wait_to_end`): the job may
    then give up before it writes anything.
    """

    __slots__ = ("_loop", "abandoned", "future")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.future: asyncio.Future[T] = self._loop.create_future()
        self.abandoned = False

    def deliver(self, ok: bool, value: Any) -> None:
        """Hand the outcome to the loop (on the worker's thread)."""
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody awaits it
            self._loop.call_soon_threadsafe(self._settle, ok, value)

    def _settle(self, ok: bool, value: Any) -> None:
        future = self.future  # read now: a cancelled caller may wait on a new one
        if future.done():  # the caller was cancelled and gave up on it
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class Worker:
    """A thread running submitted jobs in order until :meth:`close`.

    ``closed`` makes the error that a job gets when it was submitted to (or still waiting in)
    a closed worker: callers see that error instead of waiting forever. A round trip costs two
    thread wake-ups, so a store call sends its statements as one job.
    """

    def __init__(self, name: str, closed: Callable[[], BaseException]) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Deliver] | None] = (
            queue.SimpleQueue()
        )
        self._closed = closed
        self._closing = False
        self._guard = threading.Lock()
        self.busy = threading.Lock()
        """Held while a job runs: whoever else takes it may use the jobs' connection."""
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            work, deliver = job
            del job
            with self.busy:  # released before the caller hears of the outcome
                outcome = self._run(work)
            del work  # before the caller resumes: it may drop the database the work holds
            deliver(*outcome)
            del deliver, outcome  # an idle thread keeps no job (nor its database)

    def _run(self, work: Callable[[], Any]) -> tuple[bool, Any]:
        if self._closing:
            return False, self._closed()
        try:
            return True, work()
        except BaseException as error:  # handed to the caller, whatever it is
            return False, error

    def submit(self, work: Callable[[], Any], deliver: Deliver) -> None:
        """Queue ``work``; ``deliver`` gets its outcome on the worker's thread."""
        with self._guard:
            if not self._closing:
                self._jobs.put((work, deliver))
                return
        deliver(False, self._closed())

    def start(self, work: Callable[[], T], job: Job[T] | None = None) -> Job[T]:
        """Queue ``work``; ``job`` (a new one by default) gets its outcome on the loop."""
        job = Job() if job is None else job
        self.submit(work, job.deliver)
        return job

    async def run_to_end(self, work: Callable[[], T]) -> T:
        """Run ``work`` on the thread and await it to its end (see :func:`wait_to_end`)."""
        return await wait_to_end(self.start(work))

    def call(self, work: Callable[[], T]) -> T:
        """Run ``work`` on the thread, blocking the calling thread until it ends."""
        if threading.current_thread() is self._thread:
            return work()
        future: Future[T] = Future()
        self.submit(work, partial(_settle, future))
        return future.result()

    def close(self) -> None:
        """Stop the thread (idempotent): jobs still queued get the ``closed`` error; a job
        already running ends first."""
        with self._guard:
            if self._closing:
                return
            self._closing = True
            self._jobs.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join()


def _settle(future: Future[Any], ok: bool, value: Any) -> None:
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


async def wait_to_end(job: Job[T]) -> T:
    """Await ``job`` to its end even when the caller is cancelled meanwhile.

    The job keeps running on its thread after a cancellation (a ``COMMIT`` cannot be taken
    back), so the caller learns its outcome before moving on: the cancellation is raised once
    the job ended, whatever its outcome. The first cancellation marks the job ``abandoned``.
    The future is awaited directly (no ``asyncio.shield``, which costs a loop iteration per
    call): a cancellation cancels it, and a new one then takes the outcome.
    """
    cancelled: asyncio.CancelledError | None = None
    while True:
        future = job.future
        try:
            result = await future
        except asyncio.CancelledError as error:
            if not future.cancelled():  # the job ended (with a result, or cancelled itself)
                raise cancelled or error from None
            job.abandoned = True
            cancelled = error
            job.future = asyncio.get_running_loop().create_future()
            continue
        except BaseException:
            if cancelled is not None:
                raise cancelled from None
            raise
        if cancelled is not None:
            raise cancelled
        return result


class Lane:
    """A connection (opened later, before use) and its worker thread."""

    def __init__(self, name: str, path: str) -> None:
        self.connection: sqlite3.Connection | None = None
        self.worker = Worker(
            name,
            lambda: EventStoreUnavailable(f"SQLite {path!r} was closed while a call was pending"),
        )

    def close(self) -> None:
        """Stop the worker (a running call ends first), then close the connection."""
        self.worker.close()
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class _Reader:
    __slots__ = ("connection", "prepared", "snapshot")

    def __init__(self, opened: Opened) -> None:
        self.connection, self.snapshot = opened
        self.prepared = 0
        """How many of the database's set-ups ran on the connection."""


class Readers:
    """The read connections of one database: one per thread that reads.

    In practice only the event loop's thread reads, with one connection; a blocking set-up
    call from another thread gets its own, so no connection is ever used by two threads at
    once. Each connection runs the database's set-ups (``setups``, which may grow) before
    its next read. A connection opened ``immutable`` (see ``_sqlite_readonly``) is reopened
    when the file changed, and a read that saw the change is run again.
    """

    def __init__(self, path: str, opener: Callable[[], Opened], setups: list[Setup]) -> None:
        self._path = path
        self._open = opener
        self._setups = setups
        self._by_thread: dict[int, _Reader] = {}
        self._closed = False

    def read(self, fetch: Callable[[sqlite3.Connection], T]) -> T:
        """``fetch`` on the calling thread's connection; SQLite errors become
        ``EventStoreUnavailable``."""
        for _ in range(3):
            reader = self._reader()
            try:
                result = fetch(reader.connection)
            except sqlite3.Error as error:
                if not self._changed(reader):
                    raise EventStoreUnavailable(f"SQLite {self._path!r}: {error}") from error
            else:
                if not self._changed(reader):
                    return result
        raise EventStoreUnavailable(f"SQLite {self._path!r} kept changing while read")

    def connection(self) -> sqlite3.Connection:
        """The calling thread's connection, for it alone to use."""
        return self._reader().connection

    def _reader(self) -> _Reader:
        if self._closed:
            raise EventStoreUnavailable(f"SQLite {self._path!r} is closed")
        thread = threading.get_ident()
        reader = self._by_thread.get(thread)
        if reader is None or self._changed(reader):
            if reader is not None:
                reader.connection.close()
            reader = self._by_thread[thread] = _Reader(self._open())
        if reader.prepared < len(self._setups):
            try:
                for setup in self._setups[reader.prepared :]:
                    setup(reader.connection)
                    reader.prepared += 1
            except sqlite3.Error as error:
                raise EventStoreUnavailable(f"SQLite {self._path!r}: {error}") from error
        return reader

    def close(self) -> None:
        """Close every connection (idempotent); later reads raise ``EventStoreUnavailable``."""
        self._closed = True
        readers, self._by_thread = self._by_thread, {}
        for reader in readers.values():
            reader.connection.close()

    def _changed(self, reader: _Reader) -> bool:
        """Whether the file changed since ``reader`` opened it ``immutable`` (a writer
        appeared)."""
        return reader.snapshot is not None and (
            file_state(self._path) != reader.snapshot or companions_exist(self._path)
        )


def close_all(lanes: list[Lane], readers: Readers, folders: list[str]) -> None:
    """Stop ``lanes`` and close ``readers``, then remove ``folders`` (a database's finalizer:
    it holds these, never the database itself)."""
    for lane in lanes:
        lane.close()
    readers.close()
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def roll_back(connection: sqlite3.Connection | None) -> None:
    """Roll back ``connection``'s open transaction, if any; a failure to do so leaves the
    error that caused it to be raised (closing the connection rolls back anyway)."""
    if connection is not None and connection.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            connection.execute("ROLLBACK")


def _connect(path: str, file: str, pragmas: Sequence[str], failed: str) -> sqlite3.Connection:
    """A connection to ``file`` (the file of ``path``) with ``pragmas`` run on it;
    ``EventStoreUnavailable`` starting with ``failed`` when it cannot be opened."""
    try:
        connection = sqlite3.connect(
            os.fsencode(file), isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as error:
        raise EventStoreUnavailable(f"{failed}: {error}") from error
    try:
        for pragma in pragmas:
            connection.execute(pragma)
    except sqlite3.Error as error:
        connection.close()
        raise EventStoreUnavailable(f"{failed}: {error}") from error
    return connection


def connect_writer(
    path: str, file: str, busy_timeout_ms: int, synchronous: str
) -> sqlite3.Connection:
    """The connection writes use, to ``file`` (the file of ``path``), in WAL mode, with the
    table of schema versions; ``EventStoreUnavailable`` when it cannot be opened."""
    return _connect(
        path,
        file,
        (
            f"PRAGMA busy_timeout = {int(busy_timeout_ms)}",
            "PRAGMA journal_mode = WAL",
            f"PRAGMA synchronous = {synchronous}",
            "CREATE TABLE IF NOT EXISTS forze_migrations ("
            " component TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID",
        ),
        f"cannot open SQLite database {path!r}",
    )


def open_reader(path: str, file: str, busy_timeout_ms: int) -> Opened:
    """A connection that only reads ``file`` (the file of ``path``, in WAL mode)."""
    pragmas = (f"PRAGMA busy_timeout = {int(busy_timeout_ms)}", "PRAGMA query_only = ON")
    return _connect(path, file, pragmas, f"SQLite {path!r}"), None


def open_checkpointer(path: str, file: str) -> sqlite3.Connection:
    """A connection that only runs checkpoints of ``file``: it never waits for a lock."""
    return _connect(path, file, (), f"SQLite {path!r}")


def open_read_only(path: str, busy_timeout_ms: int) -> Opened:
    """A connection of a database opened ``read_only`` (see ``_sqlite_readonly``)."""
    state = file_state(path)
    connection, immutable = connect_read_only(path, busy_timeout_ms)
    return connection, state if immutable else None
