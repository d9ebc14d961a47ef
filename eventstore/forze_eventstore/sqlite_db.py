"""``SQLiteDatabase``: one embedded SQLite file shared by the SQLite stores.

The event store, snapshot store, checkpoints and read models of one file share a connection so
that their writes can commit in one transaction (projections commit their checkpoint with their
read-model writes). Work runs on the calling thread: the file is embedded and statements are
short. A write transaction belongs to one asyncio task at a time (see ``transaction``).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, NoReturn

from forze.domain.errors import EventStoreUnavailable, ReadOnlyOperationError, WiringError
from forze_eventstore._sqlite_readonly import (
    FileState,
    companions_exist,
    connect_read_only,
    file_state,
)

__all__ = ["Migration", "SQLiteDatabase", "Synchronous"]

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
Migration = Callable[[sqlite3.Connection], None]
"""One schema step; applied once, in order, inside a transaction."""


class SQLiteDatabase:
    """An open SQLite file (or ``":memory:"``) with versioned, idempotent schema migrations.

    ``synchronous`` is SQLite's durability setting: ``FULL`` (the default) syncs the WAL on
    every commit, so an append that returned survives power loss; ``NORMAL`` is faster and
    survives a crash of the process but may lose the last commits on power loss.

    ``read_only=True`` inspects an existing file without changing it: no table is created, the
    journal mode is left alone, no file appears beside it (see the ``_sqlite_readonly`` module),
    a read-only medium works, and a write raises ``ReadOnlyOperationError``.
    Stores created on it check that their schema is there instead of migrating it.
    """

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
        self._busy_timeout_ms = busy_timeout_ms
        self._after_commit: list[Callable[[], None]] = []
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._snapshot: FileState | None = None
        """The file's state when opened ``immutable``: a read after it changed is run again."""
        if read_only:
            self._connection = self._open_read_only()
            return
        target = self.path if self.path in ("", ":memory:") else os.fsencode(self.path)
        try:
            self._connection = sqlite3.connect(
                target, isolation_level=None, check_same_thread=False
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

    @property
    def connection(self) -> sqlite3.Connection:
        """The open connection; a read-only one is reopened first if a writer changed the file
        since it was opened ``immutable``, so that reads see the writer's commits."""
        if self._changed():
            self._connection.close()
            self._connection = self._open_read_only()
        return self._connection

    def _open_read_only(self) -> sqlite3.Connection:
        state = file_state(self.path)
        connection, immutable = connect_read_only(self.path, self._busy_timeout_ms)
        self._snapshot = state if immutable else None
        return connection

    def _changed(self) -> bool:
        """Whether the file changed since it was opened ``immutable`` (a writer appeared)."""
        return self._snapshot is not None and (
            file_state(self.path) != self._snapshot or companions_exist(self.path)
        )

    def schema_version(self, component: str) -> int:
        """The schema version of ``component`` stored in the file (0 when it has none)."""
        tables = self.read(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'forze_migrations'"
        )
        if not tables[0][0]:
            return 0
        rows = self.read("SELECT version FROM forze_migrations WHERE component = ?", (component,))
        return 0 if not rows else int(rows[0][0])

    def migrate(self, component: str, steps: Sequence[Migration]) -> int:
        """Apply the steps of ``component`` not applied yet; return its schema version.

        Runs when a store is created, before any transaction of this database is open.
        """
        if self._owner is not None:
            raise WiringError("create SQLite stores before a transaction of their database runs")
        if self.read_only:
            return self._check_schema(component, len(steps))
        self._begin()
        try:
            row = self.connection.execute(
                "SELECT version FROM forze_migrations WHERE component = ?", (component,)
            ).fetchone()
            current = 0 if row is None else int(row[0])
            if current > len(steps):
                raise self._newer(component, current, len(steps))
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

    def _check_schema(self, component: str, known: int) -> int:
        current = self.schema_version(component)
        if current > known:
            raise self._newer(component, current, known)
        if current == known:
            return current
        if current == 0 and component == "events":
            message = f"{self.path!r} is not a forze store: it has no forze event table"
        elif current == 0:
            message = f"{self.path!r} has no forze {component!r} tables yet"
        else:
            message = (
                f"{self.path!r} holds version {current} of the forze {component!r} schema,"
                f" this forze uses {known}: open it writable once to migrate it"
            )
        raise EventStoreUnavailable(
            f"{message} (opened read-only: nothing was changed)", transient=False
        )

    def _newer(self, component: str, current: int, known: int) -> EventStoreUnavailable:
        return EventStoreUnavailable(
            f"SQLite {self.path!r} was written by a newer forze: its {component!r} schema is at"
            f" version {current}, this forze knows {known}; upgrade forze to use it",
            transient=False,
        )

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
        if self.read_only:
            raise ReadOnlyOperationError(f"SQLite {self.path!r} is open read-only: cannot write")
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
        for _ in range(3):
            connection = self.connection
            try:
                rows = connection.execute(sql, parameters).fetchall()
            except sqlite3.Error as error:
                if not self._changed():
                    raise EventStoreUnavailable(f"SQLite {self.path!r}: {error}") from error
            else:
                if not self._changed():
                    return rows
        raise EventStoreUnavailable(f"SQLite {self.path!r} kept changing while read")

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._connection.close()

    def __enter__(self) -> SQLiteDatabase:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
