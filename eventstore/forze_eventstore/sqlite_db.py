"""``SQLiteDatabase``: one embedded SQLite file shared by the SQLite stores.

The event store, snapshot store, checkpoints and read models of one file share a connection so
that their writes can commit in one transaction (projections commit their checkpoint with their
read-model writes). Work runs on the calling thread: the file is embedded, statements are short,
and no await happens inside a transaction, so tasks of one event loop never interleave in one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from forze.domain.errors import EventStoreUnavailable

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
        self._depth = 0

    def migrate(self, component: str, steps: Sequence[Migration]) -> int:
        """Apply the steps of ``component`` not applied yet; return its schema version."""
        with self.transaction() as connection:
            row = connection.execute(
                "SELECT version FROM forze_migrations WHERE component = ?", (component,)
            ).fetchone()
            current = 0 if row is None else int(row[0])
            for step in steps[current:]:
                step(connection)
            if len(steps) > current:
                connection.execute(
                    "INSERT OR REPLACE INTO forze_migrations (component, version) VALUES (?, ?)",
                    (component, len(steps)),
                )
            return max(current, len(steps))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``); nested calls join the outer one.

        Callbacks registered with :meth:`after_commit` run once the outermost one commits.
        SQLite errors become ``EventStoreUnavailable``; forze errors pass through. Either way
        the transaction is rolled back and nothing is written.
        """
        if self._depth:
            self._depth += 1
            try:
                yield self.connection
            finally:
                self._depth -= 1
            return
        try:
            self.connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise EventStoreUnavailable(f"SQLite {self.path!r}: {error}") from error
        self._depth = 1
        try:
            yield self.connection
            self.connection.execute("COMMIT")
        except BaseException as error:
            self._after_commit.clear()
            self.connection.execute("ROLLBACK")
            if isinstance(error, sqlite3.Error):
                raise EventStoreUnavailable(f"SQLite {self.path!r}: {error}") from error
            raise
        finally:
            self._depth = 0
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

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
