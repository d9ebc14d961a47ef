"""``PostgresSnapshotStore``: the newest snapshot per stream, as ``JSONB``."""

from __future__ import annotations

import json

from forze.contracts import Snapshot
from forze_eventstore.snapshots import check_snapshot, check_snapshot_stream_id
from forze_postgres._pg_tenancy import TENANT_COLUMN, Tenancy
from forze_postgres.checkpoints import LazyMigration
from forze_postgres.database import PostgresDatabase
from forze_postgres.errors import translated

__all__ = ["PostgresSnapshotStore"]

MIGRATIONS: tuple[str, ...] = (
    "CREATE TABLE {schema}.forze_snapshots (stream_id TEXT PRIMARY KEY,"
    " version BIGINT NOT NULL, schema_version INTEGER NOT NULL, state JSONB NOT NULL,"
    " saved_at TIMESTAMPTZ NOT NULL DEFAULT now())",
)
"""The snapshot table's schema steps."""

TENANT_MIGRATIONS: tuple[str, ...] = (
    f"CREATE TABLE {{schema}}.forze_snapshots ({TENANT_COLUMN}, stream_id TEXT NOT NULL,"
    " version BIGINT NOT NULL, schema_version INTEGER NOT NULL, state JSONB NOT NULL,"
    " saved_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (tenant, stream_id))",
)
"""The snapshot table's schema steps in the tenant-column layout."""


class PostgresSnapshotStore:
    """A :class:`forze.contracts.SnapshotStore` in the table ``forze_snapshots``.

    Keeps one row per stream: a save replaces it unless the stored snapshot is of a newer
    stream version. The table is created at first use; saves join the calling task's open
    transaction. With ``db.tenant`` set (the tenant-column layout) every tenant has snapshots
    of its own.
    """

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db
        self._table = db.table("forze_snapshots")
        self._tenancy = tenancy = Tenancy(db.tenant)
        steps = tenancy.steps(MIGRATIONS, TENANT_MIGRATIONS)
        self._migration = LazyMigration(db, "snapshots", steps)

    async def save(self, snapshot: Snapshot) -> None:
        """See ``SnapshotStore.save``."""
        state = check_snapshot(snapshot)
        await self._migration.ensure()
        with translated(f"cannot save a snapshot of {snapshot.stream_id!r}"):
            async with self.db.transaction(appends=False) as connection:
                tenancy = self._tenancy
                await connection.execute(
                    f"INSERT INTO {self._table} AS s"
                    f" ({tenancy.column}stream_id, version, schema_version, state)"
                    f" VALUES ({tenancy.value(5)}$1, $2, $3, $4::jsonb)"
                    f" ON CONFLICT ({tenancy.column}stream_id) DO UPDATE SET"
                    " version = excluded.version, schema_version = excluded.schema_version,"
                    " state = excluded.state, saved_at = now()"
                    " WHERE excluded.version >= s.version",
                    snapshot.stream_id,
                    snapshot.version,
                    snapshot.schema_version,
                    state,
                    *tenancy.args,
                )

    async def load(self, stream_id: str) -> Snapshot | None:
        """See ``SnapshotStore.load``."""
        check_snapshot_stream_id(stream_id)
        await self._migration.ensure()
        with translated(f"cannot load the snapshot of {stream_id!r}"):
            async with self.db.connection() as connection:
                row = await connection.fetchrow(
                    f"SELECT version, schema_version, state::text FROM {self._table}"
                    f" WHERE {self._tenancy.match(2)}stream_id = $1",
                    stream_id,
                    *self._tenancy.args,
                )
        if row is None:
            return None
        version, schema_version, state = row
        return Snapshot(stream_id, int(version), int(schema_version), json.loads(state))

    async def delete(self, stream_id: str) -> None:
        """See ``SnapshotStore.delete``."""
        check_snapshot_stream_id(stream_id)
        await self._migration.ensure()
        with translated(f"cannot delete the snapshot of {stream_id!r}"):
            async with self.db.transaction(appends=False) as connection:
                sql = f"DELETE FROM {self._table} WHERE {self._tenancy.match(2)}stream_id = $1"
                await connection.execute(sql, stream_id, *self._tenancy.args)
