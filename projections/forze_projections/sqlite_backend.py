"""``SQLiteProjectionBackend``: projections in the SQLite file of the event store."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar, cast

from pydantic import BaseModel

from forze.contracts import ReadModelSpec
from forze.domain.errors import InvalidInputError
from forze_eventstore import SQLiteDatabase
from forze_eventstore.adapter_kit import Migration
from forze_projections.errors import ProjectionFailure
from forze_projections.live_store import ServingStores, WriterStores
from forze_projections.memory_backend import ReadModelOwners
from forze_projections.queries import quote_identifier
from forze_projections.sqlite_checkpoints import SQLiteCheckpointStore
from forze_projections.sqlite_leases import SQLiteLeases
from forze_projections.sqlite_read_models import SQLiteReadModelStore

__all__ = ["SQLiteProjectionBackend"]

M = TypeVar("M", bound=BaseModel)


def _create_registry(connection: sqlite3.Connection) -> None:
    connection.execute(
        "CREATE TABLE forze_projection_live ("
        " projection TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID"
    )
    connection.execute(
        "CREATE TABLE forze_read_model_live ("
        " read_model TEXT PRIMARY KEY, projection TEXT NOT NULL, version INTEGER NOT NULL)"
        " WITHOUT ROWID"
    )
    connection.execute(
        "CREATE TABLE forze_projection_failures ("
        " id INTEGER PRIMARY KEY, projection TEXT NOT NULL, position INTEGER NOT NULL,"
        " event_type TEXT NOT NULL, stream_id TEXT NOT NULL, error TEXT NOT NULL,"
        " at INTEGER NOT NULL)"
    )


MIGRATIONS: tuple[Migration, ...] = (_create_registry,)
"""The projection registry's schema steps."""


def _set_live(
    name: str,
    version: int,
    read_models: list[tuple[str, str, int]],
    connection: sqlite3.Connection,
) -> None:
    connection.execute(
        "INSERT INTO forze_projection_live (projection, version) VALUES (?, ?)"
        " ON CONFLICT (projection) DO UPDATE SET version = excluded.version",
        (name, version),
    )
    connection.executemany(
        "INSERT INTO forze_read_model_live (read_model, projection, version)"
        " VALUES (?, ?, ?) ON CONFLICT (read_model) DO UPDATE SET"
        " projection = excluded.projection, version = excluded.version",
        read_models,
    )


def _drop_tables(tables: list[str], connection: sqlite3.Connection) -> None:
    for table in tables:
        connection.execute(f"DROP TABLE IF EXISTS {quote_identifier(table)}")


def _record_failure(row: tuple[object, ...], connection: sqlite3.Connection) -> None:
    connection.execute(
        "INSERT INTO forze_projection_failures (projection, position, event_type,"
        " stream_id, error, at) VALUES (?, ?, ?, ?, ?, ?)",
        row,
    )


def table_of(spec: ReadModelSpec[Any], version: int) -> str:
    """The table holding version ``version`` of read model ``spec``."""
    return f"forze_rm_{spec.name}_v{version}"


class SQLiteProjectionBackend:
    """A ``ProjectionBackend`` in a SQLite file, usually the event store's own.

    Units of work are SQLite transactions (savepoints nest inside), so a batch's documents
    and checkpoint commit together; each projection version writes its own tables
    (``forze_rm_<read model>_v<version>``) and readers follow ``forze_read_model_live``,
    which the cut-over updates in the same transaction as the final checkpoint.
    """

    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db
        db.migrate("projections", MIGRATIONS)
        self._checkpoints = SQLiteCheckpointStore(db)
        self._leases = SQLiteLeases(db)
        self._stores: dict[str, SQLiteReadModelStore[Any]] = {}
        self._savepoints = itertools.count(1)
        self.owners = ReadModelOwners()
        self._declared: dict[str, tuple[ReadModelSpec[Any], ...]] = {}

    @property
    def checkpoints(self) -> SQLiteCheckpointStore:
        """See ``ProjectionBackend.checkpoints``."""
        return self._checkpoints

    @property
    def leases(self) -> SQLiteLeases:
        """See ``ProjectionBackend.leases``: in the file, shared by its processes."""
        return self._leases

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[None]:
        """See ``ProjectionBackend.unit``: one SQLite write transaction."""
        async with self.db.transaction():
            yield

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """See ``ProjectionBackend.savepoint``: a SQLite SAVEPOINT in the open transaction."""
        if not self.db.in_transaction:
            raise InvalidInputError("a savepoint needs an open unit of work")
        name = f"forze_sp_{next(self._savepoints)}"
        connection = self.db.connection
        connection.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            connection.execute(f"ROLLBACK TO {name}")
            connection.execute(f"RELEASE {name}")
            raise
        connection.execute(f"RELEASE {name}")

    def claim(self, name: str, read_models: Sequence[ReadModelSpec[Any]]) -> None:
        """See ``ProjectionBackend.claim``."""
        self.owners.claim(name, read_models)
        self._declared[name] = (*self._declared.get(name, ()), *read_models)

    def writer(self, name: str, version: int) -> WriterStores:
        """See ``ProjectionBackend.writer``."""
        return WriterStores(self, name, version)

    def serving(self) -> ServingStores:
        """See ``ProjectionBackend.serving``."""
        return ServingStores(self)

    async def serving_version(self, spec: ReadModelSpec[Any]) -> int | None:
        """The live version of read model ``spec`` (a read on the database's worker, so a
        cut-over made by another process is seen at once); ``None`` before the first."""
        rows = await self.db.read(
            "SELECT version FROM forze_read_model_live WHERE read_model = ?", (spec.name,)
        )
        return int(rows[0][0]) if rows else None

    async def live_version(self, name: str) -> int | None:
        """See ``ProjectionBackend.live_version``."""
        rows = await self.db.read(
            "SELECT version FROM forze_projection_live WHERE projection = ?", (name,)
        )
        return int(rows[0][0]) if rows else None

    async def set_live(self, name: str, version: int) -> None:
        """See ``ProjectionBackend.set_live``: the projection and each of its read models."""
        read_models = [(spec.name, name, version) for spec in self._declared.get(name, ())]
        await self.db.write(partial(_set_live, name, version, read_models))

    async def drop(self, name: str, version: int) -> None:
        """See ``ProjectionBackend.drop``: drop the version's tables."""
        tables = [table_of(spec, version) for spec in self._declared.get(name, ())]
        await self.db.write(partial(_drop_tables, tables))

    async def caught_up(self, name: str, version: int) -> None:
        """See ``ProjectionBackend.caught_up``: nothing is deferred here."""

    async def record_failure(self, failure: ProjectionFailure) -> None:
        """See ``ProjectionBackend.record_failure``."""
        row = (
            failure.projection,
            failure.position,
            failure.event_type,
            failure.stream_id,
            failure.error,
            int(failure.at.timestamp() * 1_000_000),
        )
        await self.db.write(partial(_record_failure, row))

    async def failures(self, name: str) -> list[ProjectionFailure]:
        """See ``ProjectionBackend.failures``."""
        rows = await self.db.read(
            "SELECT projection, position, event_type, stream_id, error, at"
            " FROM forze_projection_failures WHERE projection = ? ORDER BY id",
            (name,),
        )
        return [
            ProjectionFailure(p, pos, t, s, e, datetime.fromtimestamp(at / 1_000_000, UTC))
            for p, pos, t, s, e, at in rows
        ]

    def store(self, spec: ReadModelSpec[M], version: int) -> SQLiteReadModelStore[M]:
        """The store of version ``version`` of read model ``spec`` (created on first use)."""
        table = table_of(spec, version)
        store = self._stores.get(table)
        if store is None:
            store = self._stores[table] = SQLiteReadModelStore(self.db, spec, table=table)
        return cast(SQLiteReadModelStore[M], store)
