"""Group commit: the writes that wait for the writer's thread share one transaction.

A ``synchronous=FULL`` commit costs a sync of the WAL; while one runs, other tasks' writes
queue up. Instead of a transaction (and a sync) each, the writer's thread takes every write
waiting when it is free and runs them in one ``BEGIN IMMEDIATE`` ... ``COMMIT``, each inside a
savepoint of its own: a write that raises is rolled back to its savepoint and gets its error,
and the others commit. Each write sees the ones before it in the group, as it would have seen
them committed, so a group means what the same writes one after the other mean. A write
alone in its group runs without a savepoint.

A write's caller hears of it only after the group's ``COMMIT`` succeeded; when the commit
fails, every write of the group gets the error and nothing of the group is stored.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from forze.domain.errors import EventStoreUnavailable
from forze_eventstore._sqlite_worker import Job, Lane, roll_back

__all__ = ["GroupCommit"]

Work = Callable[[sqlite3.Connection], Any]


class GroupCommit:
    """The writes waiting for ``lane``'s worker, committed together on its connection (see
    the module); ``path`` names the database in errors.

    It holds the lane, never the database: the worker's thread keeps no reference to a
    database that its owner dropped, so collecting it still stops the thread.
    """

    def __init__(self, lane: Lane, path: str) -> None:
        self._lane = lane
        self._worker = lane.worker
        self._path = path
        self._guard = threading.Lock()
        self._waiting: list[tuple[Work, Job[Any]]] = []
        self._flush_queued = False

    @property
    def pending(self) -> bool:
        """Whether writes wait for the worker (a write that joins them must queue too)."""
        return self._flush_queued

    def add(self, work: Work, job: Job[Any]) -> None:
        """Queue ``work``: it runs in the next group, and ``job`` gets its outcome."""
        with self._guard:
            self._waiting.append((work, job))
            if self._flush_queued:
                return
            self._flush_queued = True
        self._worker.submit(self._flush, self._flush_ended)

    def _take(self) -> list[tuple[Work, Job[Any]]]:
        with self._guard:
            group, self._waiting = self._waiting, []
            self._flush_queued = False
        return group

    def _flush_ended(self, ok: bool, value: Any) -> None:
        """Deliver the outcomes once the worker let go of the connection (so a caller that
        resumes finds it idle). A closed worker never ran the flush: the writes still waiting
        get the worker's error."""
        if ok:
            for job, done, outcome in value:
                job.deliver(done, outcome)
            return
        for _, job in self._take():
            job.deliver(False, value)

    def _flush(self) -> list[tuple[Job[Any], bool, Any]]:
        outcomes: list[tuple[Job[Any], bool, Any]] = []
        live: list[tuple[Work, Job[Any]]] = []
        for work, job in self._take():
            if job.abandoned:  # its caller was cancelled before it started: write nothing
                outcomes.append((job, False, asyncio.CancelledError()))
            else:
                live.append((work, job))
        if live:
            outcomes += self._run(live)
        return outcomes

    def _run(self, group: list[tuple[Work, Job[Any]]]) -> list[tuple[Job[Any], bool, Any]]:
        try:
            connection = self._lane.connection
            if connection is None:
                raise EventStoreUnavailable(f"SQLite {self._path!r} is closed")
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            return [(job, False, self._translated(error)) for _, job in group]
        except BaseException as error:
            return [(job, False, error) for _, job in group]
        outcomes: list[tuple[Job[Any], bool, Any]] = []
        alone = len(group) == 1
        for work, job in group:
            if job.abandoned:  # cancelled while BEGIN waited for another process's lock
                outcomes.append((job, False, asyncio.CancelledError()))
                continue
            ok, value = self._one(connection, work, alone)
            if not connection.in_transaction:  # SQLite rolled the whole group back (I/O error)
                lost = self._translated(value) if not ok else self._lost()
                return [(job, False, lost) for _, job in group]
            outcomes.append((job, ok, value))
        try:
            connection.execute("COMMIT")
        except BaseException as error:
            roll_back(connection)
            failed = self._translated(error)
            return [(job, False, failed) for _, job in group]
        return outcomes

    def _one(self, connection: sqlite3.Connection, work: Work, alone: bool) -> tuple[bool, Any]:
        """Run one write of the group in a savepoint of its own (none when it is alone: the
        group's rollback then undoes it)."""
        try:
            if alone:
                return True, work(connection)
            connection.execute("SAVEPOINT forze_write")
            try:
                result = work(connection)
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK TO forze_write")
                    connection.execute("RELEASE forze_write")
                raise
            connection.execute("RELEASE forze_write")
            return True, result
        except BaseException as error:
            if alone:
                roll_back(connection)
            return False, self._translated(error)

    def _translated(self, error: BaseException) -> BaseException:
        if isinstance(error, sqlite3.Error):
            translated = EventStoreUnavailable(f"SQLite {self._path!r}: {error}")
            translated.__cause__ = error
            return translated
        return error

    def _lost(self) -> EventStoreUnavailable:
        return EventStoreUnavailable(
            f"SQLite {self._path!r} rolled back a group of writes after an I/O error"
        )
