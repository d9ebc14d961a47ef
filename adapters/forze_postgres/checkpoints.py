"""``PostgresCheckpointStore``: feed consumers' checkpoints in a table of the database's schema.

Saves join the calling task's open transaction, so a projector's checkpoint commits with its
read-model writes (and rolls back with them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from forze_postgres._driver import Connection
from forze_postgres._pg_tenancy import TENANT_COLUMN, Tenancy
from forze_postgres.database import PostgresDatabase
from forze_postgres.errors import translated
from forze_projections.checkpoint_input import check_checkpoint_name, check_checkpoint_position

__all__ = ["LazyMigration", "PostgresCheckpointStore"]

MIGRATIONS: tuple[str, ...] = (
    'CREATE TABLE {schema}.forze_checkpoints (name TEXT COLLATE "C" PRIMARY KEY,'
    " position BIGINT NOT NULL, updated_at TIMESTAMPTZ NOT NULL DEFAULT now())",
)
"""The checkpoint table's schema steps."""

TENANT_MIGRATIONS: tuple[str, ...] = (
    f'CREATE TABLE {{schema}}.forze_checkpoints ({TENANT_COLUMN}, name TEXT COLLATE "C" NOT NULL,'
    " position BIGINT NOT NULL, updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),"
    " PRIMARY KEY (tenant, name))",
)
"""The checkpoint table's schema steps in the tenant-column layout."""


class LazyMigration:
    """Applies a component's migration steps at first use, and again after a rollback.

    Run outside a transaction, the migration commits at once and is never run again. Inside
    the calling task's transaction, the applied version is read first; missing steps are
    applied in that transaction and commit or roll back with it, so the next transaction
    checks again. ``steps`` are those of ``db``'s tenancy layout; their version is recorded
    under ``db.component(component)``.
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
        """The applied steps of the component in this layout, and whether the transaction
        wrote nothing."""
        table = self.db.table("forze_migrations")
        exists, unwritten = await connection.fetchrow(
            "SELECT to_regclass($1) IS NOT NULL, pg_current_xact_id_if_assigned() IS NULL", table
        ) or (False, False)
        if not exists:
            return 0, bool(unwritten)
        sql = f"SELECT version FROM {table} WHERE component = $1"
        record = self.db.component(self.component)
        return int(await connection.fetchval(sql, record) or 0), bool(unwritten)


class PostgresCheckpointStore:
    """A :class:`forze.contracts.CheckpointStore` in the table ``forze_checkpoints``.

    ``updated_at`` records when a checkpoint last moved. The table is created at first use;
    :meth:`prepare` creates it up front (a projection backend does so before its units). With
    ``db.tenant`` set (the tenant-column layout) every tenant has checkpoints of its own.
    """

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db
        self._table = db.table("forze_checkpoints")
        self._tenancy = tenancy = Tenancy(db.tenant)
        steps = tenancy.steps(MIGRATIONS, TENANT_MIGRATIONS)
        self._migration = LazyMigration(db, "checkpoints", steps)

    async def prepare(self) -> None:
        """Create the checkpoint table if missing (best outside any transaction)."""
        await self._migration.ensure()

    async def load(self, name: str) -> int:
        """The last handled position of consumer ``name`` (0 when it never ran).

        Inside a transaction, the checkpoint is also locked until it ends: two consumers of one
        checkpoint (projector processes, an inline projection) then take turns, and the second
        reads what the first committed instead of handling the same events again.
        """
        check_checkpoint_name(name)
        await self._migration.ensure()
        with translated("cannot load a checkpoint"):
            async with self.db.connection() as connection:
                if self.db.in_transaction():
                    await connection.execute(
                        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                        f"forze checkpoint {self.db.schema} {self.db.tenant or ''} {name}",
                    )
                sql = f"SELECT position FROM {self._table} WHERE {self._tenancy.match(2)}name = $1"
                position = await connection.fetchval(sql, name, *self._tenancy.args)
        return 0 if position is None else int(position)

    async def save(self, name: str, position: int) -> None:
        """Record ``position`` unless a higher one is stored; a negative one is invalid."""
        check_checkpoint_name(name)
        check_checkpoint_position(position)
        await self._migration.ensure()
        with translated("cannot save a checkpoint"):
            async with self.db.transaction(appends=False) as connection:
                tenancy = self._tenancy
                await connection.execute(
                    f"INSERT INTO {self._table} AS c ({tenancy.column}name, position)"
                    f" VALUES ({tenancy.value(3)}$1, $2) ON CONFLICT ({tenancy.column}name)"
                    " DO UPDATE SET position = excluded.position, updated_at = now()"
                    " WHERE c.position < excluded.position",
                    name,
                    position,
                    *tenancy.args,
                )

    async def reset(self, name: str) -> None:
        """Forget the checkpoint of ``name`` so that it starts from the beginning."""
        check_checkpoint_name(name)
        await self._migration.ensure()
        with translated("cannot reset a checkpoint"):
            async with self.db.transaction(appends=False) as connection:
                sql = f"DELETE FROM {self._table} WHERE {self._tenancy.match(2)}name = $1"
                await connection.execute(sql, name, *self._tenancy.args)

    async def moved_at(self, name: str) -> datetime | None:
        """When the checkpoint of ``name`` last moved forward (the database's clock, at the
        start of the transaction that moved it); ``None`` when it has none."""
        check_checkpoint_name(name)
        await self._migration.ensure()
        with translated("cannot read a checkpoint"):
            async with self.db.connection() as connection:
                where = f"{self._tenancy.match(2)}name = $1"
                sql = f"SELECT updated_at FROM {self._table} WHERE {where}"
                moved = await connection.fetchval(sql, name, *self._tenancy.args)
        return None if moved is None else moved.astimezone(UTC)

    async def all(self) -> dict[str, int]:
        """Every stored checkpoint, by consumer name (in code-point order of names)."""
        await self._migration.ensure()
        with translated("cannot list checkpoints"):
            async with self.db.connection() as connection:
                rows = await connection.fetch(
                    f"SELECT name, position FROM {self._table}{self._tenancy.only(1)}"
                    " ORDER BY name",
                    *self._tenancy.args,
                )
        return {str(name): int(position) for name, position in rows}
