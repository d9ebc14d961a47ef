"""A read-model table made at first use, and dropped (or emptied of a tenant's rows)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from forze.domain.errors import InvalidInputError
from forze_postgres._driver import Connection, asyncpg
from forze_postgres._pg_tenancy import Tenancy
from forze_postgres.database import PostgresDatabase
from forze_postgres.errors import translated

__all__ = ["LazyTable", "drop_table"]

T = TypeVar("T")

_STATE = (
    "SELECT to_regclass($1) IS NOT NULL, pg_current_xact_id_if_assigned() IS NULL,"
    " EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass($1)"
    " AND attname = 'tenant' AND NOT attisdropped),"
    " EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass($1)"
    " AND attname = 'search' AND attgenerated <> '' AND NOT attisdropped)"
)
"""Whether a table exists, whether the transaction wrote nothing, whether it has a tenant,
whether its ``search`` column is generated (as forze made it before search words were split
by forze itself: see :meth:`LazyTable._ensure`)."""


class LazyTable:
    """A table of ``db`` created (with ``ddl``) at first use, in the calling task's transaction
    when one is open; a table found in the other tenancy layout is an ``InvalidInputError``."""

    def __init__(self, db: PostgresDatabase, name: str, ddl: str, what: str) -> None:
        self.db, self.name, self.quoted = db, name, db.table(name)
        self._ddl, self._what = ddl, what
        self._ready = False
        self._made_in: Connection | None = None

    def forget(self) -> None:
        """Check again, at next use, that the table exists (after a drop or a rollback)."""
        self._ready, self._made_in = False, None

    async def _ensure(self, connection: Connection) -> None:
        """Create the table and its indexes if missing, in ``connection``'s transaction."""
        if self._ready or connection is self._made_in:
            return
        state = await connection.fetchrow(_STATE, self.quoted)
        exists, unwritten, tenant_column, generated_search = state or (False,) * 4
        if exists and bool(tenant_column) != (self.db.tenant is not None):
            layout = "with" if tenant_column else "without"
            raise InvalidInputError(
                f"{self._what}: table {self.quoted} was created {layout} a tenant column; open"
                f" schema {self.db.schema!r} with the tenancy it was created with"
            )
        if generated_search:  # keep its lexemes; writes from now on set forze's words
            await connection.execute(
                f"ALTER TABLE {self.quoted} ALTER COLUMN search DROP EXPRESSION IF EXISTS"
            )
        if exists and unwritten:  # a transaction that wrote nothing sees committed tables only
            self._ready = True
            return
        if not exists:
            schema = f'"{self.db.schema}"'
            if not await connection.fetchval("SELECT to_regnamespace($1) IS NOT NULL", schema):
                await self.db.migrate("read_models", ())
            await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self.quoted)
            if not await connection.fetchval("SELECT to_regclass($1)", self.quoted):
                await connection.execute(self._ddl)
        self._made_in = connection

    async def run(self, work: Callable[[Connection], Awaitable[T]], *, write: bool = False) -> T:
        """Run ``work`` on the task's transaction connection (or a pooled one), the table made.

        A write opens (or joins) a transaction. Where this call owns its transaction, a table
        dropped meanwhile is made again and ``work`` retried once.
        """
        retried = False
        with translated(f"{self._what} ({self.quoted})"):
            while True:
                owned = not self.db.in_transaction()
                if owned and not self._ready:
                    async with self.db.transaction(appends=False) as connection:
                        await self._ensure(connection)
                    self._ready = True
                try:
                    opened = self.db.transaction(appends=False) if write else self.db.connection()
                    async with opened as connection:
                        await self._ensure(connection)
                        return await work(connection)
                except asyncpg.UndefinedTableError:
                    self.forget()
                    if not owned or retried:
                        raise
                    retried = True


async def drop_table(db: PostgresDatabase, table: str) -> None:
    """Drop a read-model table of ``db`` if it exists (in the task's transaction, if any).

    In the tenant-column layout the table is shared by every tenant of the schema: only
    ``db.tenant``'s rows are deleted, and the table stays for the others.
    """
    quoted = db.table(table)
    with translated(f"cannot drop {quoted}"):
        async with db.transaction(appends=False) as connection:
            if db.tenant is None:
                await connection.execute(f"DROP TABLE IF EXISTS {quoted}")
            elif await connection.fetchval("SELECT to_regclass($1) IS NOT NULL", quoted):
                tenancy = Tenancy(db.tenant)
                await connection.execute(f"DELETE FROM {quoted}{tenancy.only(1)}", *tenancy.args)
