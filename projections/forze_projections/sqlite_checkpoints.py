"""``SQLiteCheckpointStore``: checkpoints in the embedded SQLite file shared with the event store.

Saves join the calling task's open transaction, so a projector's checkpoint commits with its
read-model writes (and rolls back with them); alone, a save is one job on the database's worker.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from functools import partial

from forze_eventstore.sqlite_db import Migration, SQLiteDatabase
from forze_projections.checkpoint_input import check_checkpoint_name, check_checkpoint_position

__all__ = ["SQLiteCheckpointStore"]


def _create_checkpoints(connection: sqlite3.Connection) -> None:
    connection.execute(
        "CREATE TABLE forze_checkpoints ("
        " name TEXT PRIMARY KEY, position INTEGER NOT NULL, updated_at INTEGER NOT NULL)"
        " WITHOUT ROWID"
    )


MIGRATIONS: tuple[Migration, ...] = (_create_checkpoints,)
"""The checkpoint table's schema steps."""


class SQLiteCheckpointStore:
    """A :class:`forze.contracts.CheckpointStore` in the table ``forze_checkpoints``.

    ``updated_at`` records when a checkpoint last moved, in microseconds since the epoch (UTC).
    Create the store before a transaction of ``db`` is open (it migrates the schema).
    """

    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db
        db.migrate("checkpoints", MIGRATIONS)

    async def load(self, name: str) -> int:
        """The last handled position of consumer ``name`` (0 when it never ran)."""
        check_checkpoint_name(name)
        rows = await self.db.read("SELECT position FROM forze_checkpoints WHERE name = ?", (name,))
        return int(rows[0][0]) if rows else 0

    async def save(self, name: str, position: int) -> None:
        """Record ``position`` unless a higher one is stored; a negative one is invalid."""
        check_checkpoint_name(name)
        check_checkpoint_position(position)
        updated_at = int(datetime.now(UTC).timestamp() * 1_000_000)
        await self.db.write(
            partial(
                _execute,
                "INSERT INTO forze_checkpoints (name, position, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET position = excluded.position,"
                " updated_at = excluded.updated_at"
                " WHERE excluded.position > forze_checkpoints.position",
                (name, position, updated_at),
            )
        )

    async def reset(self, name: str) -> None:
        """Forget the checkpoint of ``name`` so that it starts from the beginning."""
        check_checkpoint_name(name)
        await self.db.write(
            partial(_execute, "DELETE FROM forze_checkpoints WHERE name = ?", (name,))
        )

    async def moved_at(self, name: str) -> datetime | None:
        """When the checkpoint of ``name`` last moved forward; ``None`` when it has none."""
        check_checkpoint_name(name)
        rows = await self.db.read(
            "SELECT updated_at FROM forze_checkpoints WHERE name = ?", (name,)
        )
        return datetime.fromtimestamp(int(rows[0][0]) / 1_000_000, UTC) if rows else None

    async def all(self) -> dict[str, int]:
        """Every stored checkpoint, by consumer name (in name order)."""
        rows = await self.db.read("SELECT name, position FROM forze_checkpoints ORDER BY name")
        return {str(name): int(position) for name, position in rows}


def _execute(sql: str, parameters: tuple[object, ...], connection: sqlite3.Connection) -> None:
    connection.execute(sql, parameters)
