"""``PostgresCheckpointStore``: feed consumers' checkpoints in a table of the database's schema.

Saves join the calling task's open transaction, so a projector's checkpoint commits with its
read-model writes (and rolls back with them).
"""

from __future__ import annotations

from collections.abc import Sequence

from forze.domain.errors import InvalidInputError
from forze_postgres._driver import Connection
from forze_postgres.database import PostgresDatabase
from forze_postgres.errors import translated

__all__ = ["LazyMigration", "PostgresCheckpointStore"]

MIGRATIONS: tuple[str, ...] = (
    'CREATE TABLE {schema}.forze_checkpoints (name TEXT COLLATE "C" PRIMARY KEY,'
    " position BIGINT NOT NULL, updated_at TIMESTAMPTZ NOT NULL DEFAULT now())",
)
"""The checkpoint table's schema steps."""


class LazyMigration:
    """Applies a component's migration steps at first use, and again after a rollback.

    Run outside a transaction, the migration commits at once and is never run again. Inside
    the calling task's transaction, the applied version is read first; missing steps are
    applied in that transaction and commit or roll back with it, so the next transaction
    checks again.
    """

    def __init__(self, db: PostgresDatabase, component: str, steps: Sequence[str]) -> None:
        self.db, self.component, self.steps = db, component, steps
        self._committed = False
        self._joined: Connection | None = None

    async def ensure(self) -> None:
        """Make sure the component's tables exist for the calling task."""
        if self._committed:
            return
        if not self.db.in_transaction():
            await self.db.migrate(self.component, self.steps)
            self._committed = True
            return
        async with self.db.connection() as connection:
            if connection is self._joined:
                return
            with translated(f"cannot read the schema version of {self.component!r}"):
                version, unwritten = await self._applied(connection)
            if version >= len(self.steps) and unwritten:
                self._committed = True  # a transaction that wrote nothing sees committed rows only
                return
            if version < len(self.steps):
                await self.db.migrate(self.component, self.steps)
            self._joined = connection

    async def _applied(self, connection: Connection) -> tuple[int, bool]:
        """The applied steps of the component, and whether the transaction wrote nothing."""
        table = self.db.table("forze_migrations")
        exists, unwritten = await connection.fetchrow(
            "SELECT to_regclass($1) IS NOT NULL, pg_current_xact_id_if_assigned() IS NULL", table
        ) or (False, False)
        if not exists:
            return 0, bool(unwritten)
        sql = f"SELECT version FROM {table} WHERE component = $1"
        return int(await connection.fetchval(sql, self.component) or 0), bool(unwritten)


class PostgresCheckpointStore:
    """A :class:`forze.contracts.CheckpointStore` in the table ``forze_checkpoints``.

    ``updated_at`` records when a checkpoint last moved. The table is created at first use;
    :meth:`prepare` creates it up front (a projection backend does so before its units).
    """

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db
        self._table = db.table("forze_checkpoints")
        self._migration = LazyMigration(db, "checkpoints", MIGRATIONS)

    async def prepare(self) -> None:
        """Create the checkpoint table if missing (best outside any transaction)."""
        await self._migration.ensure()

    async def load(self, name: str) -> int:
        """The last handled position of consumer ``name`` (0 when it never ran)."""
        await self._migration.ensure()
        with translated("cannot load a checkpoint"):
            async with self.db.connection() as connection:
                sql = f"SELECT position FROM {self._table} WHERE name = $1"
                position = await connection.fetchval(sql, name)
        return 0 if position is None else int(position)

    async def save(self, name: str, position: int) -> None:
        """Record ``position`` unless a higher one is stored; a negative one is invalid."""
        if position < 0:
            raise InvalidInputError(f"checkpoint position must be >= 0, got {position}")
        await self._migration.ensure()
        with translated("cannot save a checkpoint"):
            async with self.db.transaction() as connection:
                await connection.execute(
                    f"INSERT INTO {self._table} AS c (name, position) VALUES ($1, $2)"
                    " ON CONFLICT (name) DO UPDATE SET position = excluded.position,"
                    " updated_at = now() WHERE c.position < excluded.position",
                    name,
                    position,
                )

    async def reset(self, name: str) -> None:
        """Forget the checkpoint of ``name`` so that it starts from the beginning."""
        await self._migration.ensure()
        with translated("cannot reset a checkpoint"):
            async with self.db.transaction() as connection:
                await connection.execute(f"DELETE FROM {self._table} WHERE name = $1", name)

    async def all(self) -> dict[str, int]:
        """Every stored checkpoint, by consumer name (in code-point order of names)."""
        await self._migration.ensure()
        with translated("cannot list checkpoints"):
            async with self.db.connection() as connection:
                rows = await connection.fetch(
                    f"SELECT name, position FROM {self._table} ORDER BY name"
                )
        return {str(name): int(position) for name, position in rows}
