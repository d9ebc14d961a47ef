"""Writes on the event loop's thread, when nothing in them can block it.

A thread round trip costs tens of microseconds, more than a whole small SQLite transaction
that neither waits nor syncs. Two things in a write can block: ``BEGIN IMMEDIATE`` waiting for
another process's write lock, and a commit syncing to disk. So ``InlineWrites`` lets the
caller's thread run a step itself only when neither can happen:

- ``BEGIN IMMEDIATE`` is tried with a busy timeout of 0: it takes a free lock at once, and
  when another process holds it the caller falls back to the worker, which waits for it.
- ``COMMIT`` runs inline only when it syncs nothing: ``synchronous`` ``OFF`` or ``NORMAL`` in
  WAL mode. A ``FULL`` commit syncs the WAL, so it runs on the worker. SQLite's automatic
  checkpoint (which syncs in ``NORMAL`` mode) is turned off on the writer; a ``Checkpointer``
  runs passive checkpoints on a thread and connection of its own instead, which never make a
  writer wait.

Either way the caller takes the worker's ``busy`` lock without waiting, and finds no write
queued before its own (the group commit's), so the writer's connection is never used by two
threads at once and writes keep their order.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from forze.domain.errors import EventStoreUnavailable
from forze_eventstore._sqlite_group import GroupCommit
from forze_eventstore._sqlite_worker import Lane, open_checkpointer, roll_back

__all__ = ["CHECKPOINT_AFTER_CHANGES", "Checkpointer", "InlineWrites"]

T = TypeVar("T")

CHECKPOINT_AFTER_CHANGES = 1000
"""Rows written inline between two checkpoints (SQLite's own default is 1000 WAL pages)."""


class Checkpointer:
    """Passive WAL checkpoints on a thread and connection of their own (see the module)."""

    def __init__(self, path: str, file: str) -> None:
        self._path, self._file = path, file
        self.lane = Lane(f"forze-sqlite-checkpoint {path}", path)
        self._queued = threading.Event()

    def request(self) -> None:
        """Queue a checkpoint unless one is waiting already."""
        if self._queued.is_set():
            return
        self._queued.set()
        self.lane.worker.submit(self._checkpoint, self._ended)

    def _checkpoint(self) -> None:
        self._queued.clear()  # changes made from now on may need another one
        with contextlib.suppress(sqlite3.Error, EventStoreUnavailable):  # tried next time
            if self.lane.connection is None:
                self.lane.connection = open_checkpointer(self._path, self._file)
            self.lane.connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _ended(self, ok: bool, value: Any) -> None:
        self._queued.clear()


class InlineWrites:
    """Runs the steps of a write on the caller's thread when they cannot block it."""

    def __init__(
        self,
        lane: Lane,
        group: GroupCommit,
        path: str,
        busy_timeout_ms: int,
        checkpointer: Checkpointer | None,
    ) -> None:
        self._lane = lane
        self._group = group
        self._path = path
        self._busy_timeout = f"PRAGMA busy_timeout = {int(busy_timeout_ms)}"
        self._checkpointer = checkpointer
        """Set when commits sync nothing, so they may run inline (see the module)."""
        self._changes_checkpointed = 0

    @property
    def commits_inline(self) -> bool:
        """Whether commits sync nothing, so a whole write may run inline."""
        return self._checkpointer is not None

    def write(self, work: Callable[[sqlite3.Connection], T]) -> tuple[bool, T | None]:
        """``(True, result)`` once ``work`` committed inline; ``(False, None)`` when it must
        go to the worker (nothing was run). Errors of ``work`` or of the commit are raised
        after a rollback, SQLite's as ``EventStoreUnavailable``."""
        if not self.commits_inline:
            return False, None
        busy = self._lane.worker.busy
        if not busy.acquire(blocking=False):
            return False, None
        try:
            connection = self._lane.connection
            if connection is None or not self._free(connection):
                return False, None
            try:
                result = work(connection)
                connection.execute("COMMIT")
            except BaseException as error:
                roll_back(connection)
                self._raise_translated(error)
            self._committed(connection)
            return True, result
        finally:
            busy.release()

    def begin(self) -> bool:
        """Open the transaction of ``SQLiteDatabase.transaction`` inline; ``False`` when the
        worker must (another process holds the lock, or the worker is in use)."""
        busy = self._lane.worker.busy
        if not busy.acquire(blocking=False):
            return False
        try:
            connection = self._lane.connection
            return connection is not None and self._free(connection)
        finally:
            busy.release()

    def commit(self) -> bool:
        """Commit the caller's open transaction inline; ``False`` when the worker must (a
        syncing commit, or the worker is in use). Errors are raised after a rollback."""
        if not self.commits_inline:
            return False
        busy = self._lane.worker.busy
        if not busy.acquire(blocking=False):
            return False
        try:
            connection = self._lane.connection
            if connection is None:
                return False
            try:
                connection.execute("COMMIT")
            except sqlite3.Error as error:
                roll_back(connection)
                self._raise_translated(error)
            self._committed(connection)
            return True
        finally:
            busy.release()

    def _free(self, connection: sqlite3.Connection) -> bool:
        """``BEGIN IMMEDIATE`` without waiting, when no write is queued before the caller's;
        whether it began."""
        if self._group.pending or connection.in_transaction:
            return False
        connection.execute("PRAGMA busy_timeout = 0")
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode == sqlite3.SQLITE_BUSY:
                return False  # another process writes: the worker waits for it
            self._raise_translated(error)
        finally:
            connection.execute(self._busy_timeout)
        return True

    def _committed(self, connection: sqlite3.Connection) -> None:
        if self._checkpointer is None:
            return
        changes = connection.total_changes
        if changes - self._changes_checkpointed >= CHECKPOINT_AFTER_CHANGES:
            self._changes_checkpointed = changes
            self._checkpointer.request()

    def _raise_translated(self, error: BaseException) -> NoReturn:
        if isinstance(error, sqlite3.Error):
            raise EventStoreUnavailable(f"SQLite {self._path!r}: {error}") from error
        raise error
