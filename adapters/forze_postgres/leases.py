"""``PostgresLeases``: projection leases in a table of the database's schema."""

from __future__ import annotations

from typing import Any

from forze_postgres._pg_tenancy import TENANT_COLUMN, Tenancy
from forze_postgres.checkpoints import LazyMigration
from forze_postgres.database import PostgresDatabase
from forze_postgres.errors import translated
from forze_projections.leases import Lease, check_lease_terms, lease_lost

__all__ = ["PostgresLeases"]

_COLUMNS = (
    'projection TEXT COLLATE "C" NOT NULL, owner TEXT NOT NULL, version INTEGER NOT NULL,'
    " expires_at TIMESTAMPTZ NOT NULL, rebuilds_requested BIGINT NOT NULL DEFAULT 0,"
    " rebuilds_done BIGINT NOT NULL DEFAULT 0"
)

MIGRATIONS: tuple[str, ...] = (
    f"CREATE TABLE {{schema}}.forze_projection_leases ({_COLUMNS}, PRIMARY KEY (projection))",
)
"""The lease table's schema steps (component ``projection_leases``)."""

TENANT_MIGRATIONS: tuple[str, ...] = (
    f"CREATE TABLE {{schema}}.forze_projection_leases ({TENANT_COLUMN}, {_COLUMNS},"
    " PRIMARY KEY (tenant, projection))",
)
"""The lease table's schema steps in the tenant-column layout."""

_RETURNING = (
    " RETURNING owner, version, extract(epoch FROM expires_at - clock_timestamp())::float8,"
    " rebuilds_requested, rebuilds_done"
)


class PostgresLeases:
    """``ProjectionLeases`` in the table ``forze_projection_leases``.

    Expiry follows the server's clock, so the clocks of the runners' machines do not matter.
    ``hold`` updates the lease row in the batch's transaction: the row stays locked until that
    transaction ends, so a standby's takeover waits for the batch and the old holder's next
    batch finds the lease gone. With ``db.tenant`` set each tenant's projections have their own
    leases.
    """

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db
        self._table = db.table("forze_projection_leases")
        self._tenancy = tenancy = Tenancy(db.tenant)
        self._migration = LazyMigration(
            db, "projection_leases", tenancy.steps(MIGRATIONS, TENANT_MIGRATIONS)
        )

    async def prepare(self) -> None:
        """Create the lease table if missing (best outside any transaction)."""
        await self._migration.ensure()

    async def acquire(self, name: str, owner: str, version: int, seconds: float) -> Lease | None:
        """See ``ProjectionLeases.acquire``."""
        check_lease_terms(owner, seconds)
        t = self._tenancy
        row = await self._write(
            "take a projection lease",
            f"INSERT INTO {self._table} AS l ({t.column}projection, owner, version, expires_at)"
            f" VALUES ({t.value(5)}$1, $2, $3, clock_timestamp() + make_interval(secs => $4))"
            f" ON CONFLICT ({t.column}projection) DO UPDATE SET owner = excluded.owner,"
            " version = excluded.version, expires_at = excluded.expires_at"
            " WHERE l.owner = excluded.owner OR l.expires_at <= clock_timestamp()" + _RETURNING,
            name,
            owner,
            version,
            seconds,
        )
        return None if row is None else _lease(name, row)

    async def hold(self, name: str, owner: str, seconds: float) -> Lease:
        """See ``ProjectionLeases.hold``: joins the calling task's transaction."""
        check_lease_terms(owner, seconds)
        row = await self._write(
            "hold a projection lease",
            f"UPDATE {self._table} SET expires_at = greatest(expires_at,"
            " clock_timestamp() + make_interval(secs => $3))"
            f" WHERE {self._tenancy.match(4)}projection = $1 AND owner = $2" + _RETURNING,
            name,
            owner,
            seconds,
        )
        if row is None:
            raise await self._lost(name, owner)
        return _lease(name, row)

    async def release(self, name: str, owner: str) -> None:
        """See ``ProjectionLeases.release``."""
        await self._write(
            "release a projection lease",
            f"UPDATE {self._table} SET expires_at = clock_timestamp() - interval '1 second'"
            f" WHERE {self._tenancy.match(3)}projection = $1 AND owner = $2" + _RETURNING,
            name,
            owner,
        )

    async def read(self, name: str) -> Lease | None:
        """See ``ProjectionLeases.read``."""
        await self._migration.ensure()
        with translated("cannot read a projection lease"):
            async with self.db.connection() as connection:
                row = await connection.fetchrow(
                    "SELECT owner, version,"
                    " extract(epoch FROM expires_at - clock_timestamp())::float8,"
                    f" rebuilds_requested, rebuilds_done FROM {self._table}"
                    f" WHERE {self._tenancy.match(2)}projection = $1",
                    name,
                    *self._tenancy.args,
                )
        return None if row is None else _lease(name, row)

    async def names(self) -> list[str]:
        """See ``ProjectionLeases.names``."""
        await self._migration.ensure()
        with translated("cannot list the projection leases"):
            async with self.db.connection() as connection:
                rows = await connection.fetch(
                    f"SELECT projection FROM {self._table}{self._tenancy.only(1)}"
                    ' ORDER BY projection COLLATE "C"',
                    *self._tenancy.args,
                )
        return [str(row[0]) for row in rows]

    async def request_rebuild(self, name: str) -> int:
        """See ``ProjectionLeases.request_rebuild``."""
        t = self._tenancy
        row = await self._write(
            "request a projection rebuild",
            f"INSERT INTO {self._table} AS l ({t.column}projection, owner, version, expires_at,"
            f" rebuilds_requested) VALUES ({t.value(2)}$1, '', 0,"
            " clock_timestamp() - interval '1 second', 1)"
            f" ON CONFLICT ({t.column}projection) DO UPDATE"
            " SET rebuilds_requested = l.rebuilds_requested + 1" + _RETURNING,
            name,
        )
        assert row is not None  # an upsert returns its row
        return int(row[3])

    async def finish_rebuild(self, name: str, owner: str, number: int) -> None:
        """See ``ProjectionLeases.finish_rebuild``: joins the calling task's transaction."""
        row = await self._write(
            "record a projection rebuild",
            f"UPDATE {self._table} SET rebuilds_done = greatest(rebuilds_done, $3)"
            f" WHERE {self._tenancy.match(4)}projection = $1 AND owner = $2" + _RETURNING,
            name,
            owner,
            number,
        )
        if row is None:
            raise await self._lost(name, owner)

    async def _write(self, what: str, sql: str, *args: object) -> Any:
        await self._migration.ensure()
        with translated(f"cannot {what}"):
            async with self.db.transaction(appends=False) as connection:
                return await connection.fetchrow(sql, *args, *self._tenancy.args)

    async def _lost(self, name: str, owner: str) -> Exception:
        found = await self.read(name)
        return lease_lost(name, owner, None if found is None else found.holder)


def _lease(name: str, row: Any) -> Lease:
    owner, version, expires_in, requested, done = row
    return Lease(name, str(owner), int(version), float(expires_in), int(requested), int(done))
