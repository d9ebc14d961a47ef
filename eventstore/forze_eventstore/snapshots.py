"""Snapshot stores: in memory, and in the SQLite file of the event store."""

from __future__ import annotations

import json
import sqlite3
from functools import partial
from pathlib import Path

from forze.contracts import Snapshot
from forze.domain.errors import InvalidInputError
from forze_eventstore._input import MAX_VERSION, check_at_most, check_text
from forze_eventstore.rules import dump_json
from forze_eventstore.sqlite_db import Migration, SQLiteDatabase

__all__ = [
    "InMemorySnapshotStore",
    "SQLiteSnapshotStore",
    "check_snapshot",
    "check_snapshot_stream_id",
]


def check_snapshot_stream_id(stream_id: object) -> str:
    """``stream_id`` if every snapshot store can keep it (a non-empty string without NUL or
    surrogates, as for event streams); ``InvalidInputError`` otherwise."""
    if not isinstance(stream_id, str) or not stream_id.strip():
        raise InvalidInputError(f"stream id must be a non-empty string, got {stream_id!r}")
    check_text(stream_id, "stream id")
    return stream_id


def check_snapshot(snapshot: Snapshot) -> str:
    """The JSON text of ``snapshot``'s state once every part of it is one every snapshot
    store can keep (versions are ints from 0 to ``2**31 - 1``); ``InvalidInputError``
    naming the part otherwise."""
    stream_id = check_snapshot_stream_id(snapshot.stream_id)
    for name in ("version", "schema_version"):
        value = getattr(snapshot, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInputError(
                f"snapshot {name} of {stream_id!r} must be an int >= 0, got {value!r}"
            )
        check_at_most(value, MAX_VERSION, f"snapshot {name} of {stream_id!r}")
    return dump_json(snapshot.state, what=f"snapshot state of {stream_id!r}")


class InMemorySnapshotStore:
    """Keeps the newest snapshot per stream in memory (state copied through JSON)."""

    def __init__(self) -> None:
        self._snapshots: dict[str, tuple[Snapshot, str]] = {}

    async def save(self, snapshot: Snapshot) -> None:
        """See ``SnapshotStore.save``."""
        state = check_snapshot(snapshot)
        current = self._snapshots.get(snapshot.stream_id)
        if current is None or current[0].version <= snapshot.version:
            self._snapshots[snapshot.stream_id] = (snapshot, state)

    async def load(self, stream_id: str) -> Snapshot | None:
        """See ``SnapshotStore.load``."""
        check_snapshot_stream_id(stream_id)
        found = self._snapshots.get(stream_id)
        if found is None:
            return None
        snapshot, state = found
        return Snapshot(
            snapshot.stream_id, snapshot.version, snapshot.schema_version, json.loads(state)
        )

    async def delete(self, stream_id: str) -> None:
        """See ``SnapshotStore.delete``."""
        check_snapshot_stream_id(stream_id)
        self._snapshots.pop(stream_id, None)


def _create_snapshots(connection: sqlite3.Connection) -> None:
    connection.execute(
        "CREATE TABLE forze_snapshots ("
        " stream_id TEXT PRIMARY KEY, version INTEGER NOT NULL,"
        " schema_version INTEGER NOT NULL, state TEXT NOT NULL) WITHOUT ROWID"
    )


MIGRATIONS: tuple[Migration, ...] = (_create_snapshots,)
"""The snapshot table's schema steps."""


class SQLiteSnapshotStore:
    """Keeps the newest snapshot per stream in a SQLite table (shares the event store's file)."""

    def __init__(self, path: str | Path | SQLiteDatabase = ":memory:") -> None:
        self._owns_db = not isinstance(path, SQLiteDatabase)
        self.db = path if isinstance(path, SQLiteDatabase) else SQLiteDatabase(path)
        self.db.migrate("snapshots", MIGRATIONS)

    async def save(self, snapshot: Snapshot) -> None:
        """See ``SnapshotStore.save``."""
        state = check_snapshot(snapshot)
        await self.db.write(
            partial(
                _execute,
                "INSERT INTO forze_snapshots (stream_id, version, schema_version, state)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (stream_id) DO UPDATE SET"
                " version = excluded.version, schema_version = excluded.schema_version,"
                " state = excluded.state WHERE excluded.version >= forze_snapshots.version",
                (snapshot.stream_id, snapshot.version, snapshot.schema_version, state),
            )
        )

    async def load(self, stream_id: str) -> Snapshot | None:
        """See ``SnapshotStore.load``."""
        check_snapshot_stream_id(stream_id)
        rows = await self.db.read(
            "SELECT version, schema_version, state FROM forze_snapshots WHERE stream_id = ?",
            (stream_id,),
        )
        if not rows:
            return None
        version, schema_version, state = rows[0]
        return Snapshot(stream_id, int(version), int(schema_version), json.loads(state))

    async def delete(self, stream_id: str) -> None:
        """See ``SnapshotStore.delete``."""
        check_snapshot_stream_id(stream_id)
        await self.db.write(
            partial(_execute, "DELETE FROM forze_snapshots WHERE stream_id = ?", (stream_id,))
        )

    def close(self) -> None:
        """Close the database when this store opened it."""
        if self._owns_db:
            self.db.close()


def _execute(sql: str, parameters: tuple[object, ...], connection: sqlite3.Connection) -> None:
    connection.execute(sql, parameters)
