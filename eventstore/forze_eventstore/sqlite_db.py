"""``SQLiteDatabase``: one embedded SQLite file shared by the SQLite stores.

The event store, snapshot store, checkpoints and read models of one file share a connection so
that their writes can commit in one transaction (projections commit their checkpoint with their
read-model writes). Work runs on the calling thread: the file is embedded and statements are
short. A write transaction belongs to one asyncio task at a time (see ``transaction``).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, NoReturn

from forze.domain.errors import EventStoreUnavailable, WiringError

__all__ = ["Migration", "SQLiteDatabase", "Synchronous"]

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
Migration = Callable[[sqlite3.Connection], None]
"""One schema step; applied once, in order, inside a transaction."""


class SQLiteDatabase:
    """An open SQLite file (or ``":memory:"``) with versioned, idempotent schema migrations.

    ``synchronous`` is SQLite's durability setting: ``FULL`` (the default) syncs the WAL on
    every commit, so an append that returned survives power loss; ``NORMAL`` is faster and
    survives a crash of the process but may lose the last commits on power loss.
    """

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        synchronous: Synchronous = "FULL",
        busy_timeout_ms: int = 5000,
    ) -> None:
        self.path = str(path)
        try:
            self.connection = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as error:
            raise EventStoreUnavailable(
                f"cannot open SQLite database {self.path!r}: {error}"
            ) from error
        try:
            self.connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            if self.path != ":memory:":
                self.connection.execute("PRAGMA journal_mode = WAL")
            self.connection.execute(f"PRAGMA synchronous = {synchronous}")
            self.connection.execute(
                "CREATE TABLE IF NOT EXISTS forze_migrations ("
                " component TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID"
            )
        except sqlite3.Error as error:
            self.connection.close()
            raise EventStoreUnavailable(
                f"cannot open SQLite database {self.path!r}: {error}"
            ) from error
        self._after_commit: list[Callable[[], None]] = []
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None

    def migrate(self, component: str, steps: Sequence[Migration]) -> int:
        """Apply the steps of ``component`` not applied yet; return its schema version.

        Runs when a store is created, before any transaction of this database is open.
        """
        if self._owner is not None:
            raise WiringError("create SQLite stores before a transaction of their database runs")
        self._begin()
        try:
            row = self.connection.execute(
                "SELECT version FROM forze_migrations WHERE component = ?", (component,)
            ).fetchone()
            current = 0 if row is None else int(row[0])
            for step in steps[current:]:
                step(self.connection)
            if len(steps) > current:
                self.connection.execute(
                    "INSERT OR REPLACE INTO forze_migrations (component, version) VALUES (?, ?)",
                    (component, len(steps)),
                )
        except BaseException as error:
            self._rollback(error)
        self._commit()
        return max(current, len(steps))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``) owned by the calling task.

        Other tasks wait for it to end, so work that awaits inside the transaction (projection
        handlers) never lets another task's writes slip into it; the owner's nested calls join
        it. Callbacks registered with :meth:`after_commit` run once the outermost one commits.
        SQLite errors become ``EventStoreUnavailable``; forze errors pass through. Either way
        the transaction is rolled back and nothing is written.
        """
        task = asyncio.current_task()
        if self._owner is not None and self._owner is task:
            yield self.connection
            return
        async with self._lock:
            self._owner = task
            try:
                self._begin()
                try:
                    yield self.connection
                except BaseException as error:
                    self._rollback(error)
                self._commit()
            finally:
                self._owner = None
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    @property
    def in_transaction(self) -> bool:
        """Whether the calling task holds this database's write transaction."""
        return self._owner is not None and self._owner is asyncio.current_task()

    def _begin(self) -> None:
        try:
            self.connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise EventStoreUnavailable(f"SQLite {self.path!r}: {error}") from error

    def _commit(self) -> None:
        try:
            self.connection.execute("COMMIT")
        except sqlite3.Error as error:
            self._rollback(error)

    def _rollback(self, error: BaseException) -> NoReturn:
        self._after_commit.clear()
        if self.connection.in_transaction:
            self.connection.execute("ROLLBACK")
        if isinstance(error, sqlite3.Error):
            raise EventStoreUnavailable(f"SQLite {self.path!r}: {error}") from error
        raise error

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` after the current transaction commits (dropped on rollback)."""
        self._after_commit.append(callback)

    def read(self, sql: str, parameters: Sequence[object] = ()) -> list[Any]:
        """Run a read-only statement outside a write transaction and return every row."""
        try:
            return self.connection.execute(sql, parameters).fetchall()
        except sqlite3.Error as error:
            raise EventStoreUnavailable(f"SQLite {self.path!r}: {error}") from error

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self.connection.close()

    def __enter__(self) -> SQLiteDatabase:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
