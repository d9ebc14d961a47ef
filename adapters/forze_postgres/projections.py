"""``PostgresProjectionBackend``: projections in a PostgreSQL schema."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar, cast

from pydantic import BaseModel

from forze.contracts import ReadModelSpec
from forze.domain.errors import InvalidInputError
from forze_postgres._driver import abandoned, is_open
from forze_postgres._pg_tenancy import TENANT_COLUMN, Tenancy
from forze_postgres.checkpoints import LazyMigration, PostgresCheckpointStore
from forze_postgres.database import PostgresDatabase
from forze_postgres.errors import translated
from forze_postgres.leases import PostgresLeases
from forze_postgres.read_models import PostgresReadModelStore, drop_table
from forze_projections.adapter_kit import ReadModelOwners, ServingStores
from forze_projections.errors import ProjectionFailure

__all__ = ["PostgresProjectionBackend"]

M = TypeVar("M", bound=BaseModel)

MIGRATIONS: tuple[str, ...] = (
    "CREATE TABLE {schema}.forze_projection_live ("
    " projection TEXT PRIMARY KEY, version INTEGER NOT NULL)",
    "CREATE TABLE {schema}.forze_read_model_live ("
    " read_model TEXT PRIMARY KEY, projection TEXT NOT NULL, version INTEGER NOT NULL)",
    "CREATE TABLE {schema}.forze_projection_failures ("
    " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, projection TEXT NOT NULL,"
    " position BIGINT NOT NULL, event_type TEXT NOT NULL, stream_id TEXT NOT NULL,"
    " error TEXT NOT NULL, at TIMESTAMPTZ NOT NULL)",
    "CREATE INDEX forze_projection_failures_by_projection"
    " ON {schema}.forze_projection_failures (projection, id)",
)
"""The projection registry's schema steps."""

TENANT_MIGRATIONS: tuple[str, ...] = (
    f"CREATE TABLE {{schema}}.forze_projection_live ({TENANT_COLUMN},"
    " projection TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (tenant, projection))",
    f"CREATE TABLE {{schema}}.forze_read_model_live ({TENANT_COLUMN}, read_model TEXT NOT NULL,"
    " projection TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (tenant, read_model))",
    f"CREATE TABLE {{schema}}.forze_projection_failures ({TENANT_COLUMN},"
    " id BIGINT GENERATED ALWAYS AS IDENTITY, projection TEXT NOT NULL,"
    " position BIGINT NOT NULL, event_type TEXT NOT NULL, stream_id TEXT NOT NULL,"
    " error TEXT NOT NULL, at TIMESTAMPTZ NOT NULL, PRIMARY KEY (tenant, id))",
    "CREATE INDEX forze_projection_failures_by_projection"
    " ON {schema}.forze_projection_failures (tenant, projection, id)",
)
"""The projection registry's schema steps in the tenant-column layout."""


def table_of(spec: ReadModelSpec[Any], version: int) -> str:
    """The table holding version ``version`` of read model ``spec``."""
    return f"forze_rm_{spec.name}_v{version}"


class PostgresProjectionBackend:
    """A ``ProjectionBackend`` in one schema of a PostgreSQL database.

    Units of work are transactions of the calling task (savepoints nest inside), so a batch's
    documents and checkpoint commit together; each projection version writes its own tables
    (``forze_rm_<read model>_v<version>``) and readers follow ``forze_read_model_live``,
    which the cut-over updates in the same transaction as the final checkpoint.

    With ``db.tenant`` set (the tenant-column layout) the tables are shared by the schema's
    tenants: each tenant has its own checkpoints, live versions and failures, and its own
    documents in each version's tables, so a tenant's reset, rebuild or cut-over deletes and
    moves only its own (a version's table is never dropped: other tenants may serve from it).
    """

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db
        self._tenancy = tenancy = Tenancy(db.tenant)
        steps = tenancy.steps(MIGRATIONS, TENANT_MIGRATIONS)
        self._migration = LazyMigration(db, "projections", steps)
        self._checkpoints = PostgresCheckpointStore(db)
        self._leases = PostgresLeases(db)
        self._stores: dict[str, PostgresReadModelStore[Any]] = {}
        self.owners = ReadModelOwners()
        self._declared: dict[str, tuple[ReadModelSpec[Any], ...]] = {}
        self._live: dict[str, int] = {}
        """The live version of each projection, as last read or set here."""
        self._reset: set[str] = set()
        """Tables a reset dropped here: their projector builds them again from the start."""

    @property
    def checkpoints(self) -> PostgresCheckpointStore:
        """See ``ProjectionBackend.checkpoints``."""
        return self._checkpoints

    @property
    def leases(self) -> PostgresLeases:
        """See ``ProjectionBackend.leases``: in the schema, shared by its processes."""
        return self._leases

    async def prepare(self) -> None:
        """Create the registry and checkpoint tables if missing (units do so first)."""
        await self._migration.ensure()
        await self._checkpoints.prepare()
        await self._leases.prepare()

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[None]:
        """See ``ProjectionBackend.unit``: one transaction of the calling task."""
        await self.prepare()
        async with self.db.transaction(appends=False):
            yield

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """See ``ProjectionBackend.savepoint``: a SAVEPOINT in the task's transaction."""
        if not self.db.in_transaction():
            raise InvalidInputError("a savepoint needs an open unit of work")
        async with self.db.connection() as connection:
            with translated("PostgreSQL savepoint"):
                savepoint = connection.transaction()
                await savepoint.start()
            try:
                yield
            except BaseException as error:
                for store in self._stores.values():
                    store.forget()  # a table made inside the savepoint is gone
                # given up: a rollback would wait on the cancel request; the unit's
                # transaction is rolled back as a whole, in the background
                if not abandoned(error) and is_open(connection):
                    with translated("PostgreSQL rollback to savepoint"):
                        await savepoint.rollback()
                raise
            with translated("PostgreSQL release savepoint"):
                await savepoint.commit()

    def claim(self, name: str, read_models: Sequence[ReadModelSpec[Any]]) -> None:
        """See ``ProjectionBackend.claim``."""
        self.owners.claim(name, read_models)
        self._declared[name] = (*self._declared.get(name, ()), *read_models)

    def writer(self, name: str, version: int) -> _VersionStores:
        """See ``ProjectionBackend.writer``."""
        return _VersionStores(self, name, version)

    def serving(self) -> ServingStores:
        """See ``ProjectionBackend.serving``: each store reads the live registry per call."""
        return ServingStores(self)

    async def live_version(self, name: str) -> int | None:
        """See ``ProjectionBackend.live_version``."""
        version = await self._version("forze_projection_live", "projection", name)
        if version is not None:
            self._live[name] = version
        return version

    async def serving_version(self, spec: ReadModelSpec[Any]) -> int | None:
        """The live version of read model ``spec``; ``None`` before the first."""
        return await self._version("forze_read_model_live", "read_model", spec.name)

    async def _version(self, table: str, column: str, name: str) -> int | None:
        await self._migration.ensure()
        with translated("cannot read the projection registry"):
            async with self.db.connection() as connection:
                where = f"{self._tenancy.match(2)}{column} = $1"
                sql = f"SELECT version FROM {self.db.table(table)} WHERE {where}"
                version = await connection.fetchval(sql, name, *self._tenancy.args)
        return None if version is None else int(version)

    async def set_live(self, name: str, version: int) -> None:
        """See ``ProjectionBackend.set_live``: the projection and each of its read models.

        A rebuilt version's deferred indexes were built by :meth:`caught_up`, which the
        projector calls in the same unit, before this."""
        await self._migration.ensure()
        tenancy = self._tenancy
        with translated("cannot update the projection registry"):
            async with self.db.transaction(appends=False) as connection:
                await connection.execute(
                    f"INSERT INTO {self.db.table('forze_projection_live')}"
                    f" ({tenancy.column}projection, version) VALUES ({tenancy.value(3)}$1, $2)"
                    f" ON CONFLICT ({tenancy.column}projection)"
                    " DO UPDATE SET version = excluded.version",
                    name,
                    version,
                    *tenancy.args,
                )
                await connection.executemany(
                    f"INSERT INTO {self.db.table('forze_read_model_live')}"
                    f" ({tenancy.column}read_model, projection, version)"
                    f" VALUES ({tenancy.value(4)}$1, $2, $3)"
                    f" ON CONFLICT ({tenancy.column}read_model) DO UPDATE SET"
                    " projection = excluded.projection, version = excluded.version",
                    [
                        (spec.name, name, version, *tenancy.args)
                        for spec in self._declared.get(name, ())
                    ],
                )
        self.db.after_commit(partial(self._live.__setitem__, name, version))

    async def drop(self, name: str, version: int) -> None:
        """See ``ProjectionBackend.drop``: drop the version's tables (in the tenant-column
        layout, delete the tenant's documents from them)."""
        async with self.db.transaction(appends=False):
            for spec in self._declared.get(name, ()):
                table = table_of(spec, version)
                await drop_table(self.db, table)
                if table in self._stores:
                    self._stores.pop(table).forget()
                self._reset.add(table)

    async def caught_up(self, name: str, version: int) -> None:
        """See ``ProjectionBackend.caught_up``: create the secondary indexes a rebuild's read
        models deferred (see :meth:`store`), in the unit that reached the head."""
        async with self.db.transaction(appends=False):
            for spec in self._declared.get(name, ()):
                await self.store(spec, version).build_indexes()
                self._reset.discard(table_of(spec, version))

    async def record_failure(self, failure: ProjectionFailure) -> None:
        """See ``ProjectionBackend.record_failure``."""
        await self._migration.ensure()
        tenancy = self._tenancy
        with translated("cannot record a projection failure"):
            async with self.db.transaction(appends=False) as connection:
                await connection.execute(
                    f"INSERT INTO {self.db.table('forze_projection_failures')}"
                    f" ({tenancy.column}projection, position, event_type, stream_id, error, at)"
                    f" VALUES ({tenancy.value(7)}$1, $2, $3, $4, $5, $6)",
                    failure.projection,
                    failure.position,
                    failure.event_type,
                    failure.stream_id,
                    failure.error,
                    failure.at,
                    *tenancy.args,
                )

    async def failures(self, name: str) -> list[ProjectionFailure]:
        """See ``ProjectionBackend.failures``."""
        await self._migration.ensure()
        with translated("cannot read projection failures"):
            async with self.db.connection() as connection:
                rows = await connection.fetch(
                    "SELECT projection, position, event_type, stream_id, error, at"
                    f" FROM {self.db.table('forze_projection_failures')}"
                    f" WHERE {self._tenancy.match(2)}projection = $1 ORDER BY id",
                    name,
                    *self._tenancy.args,
                )
        return [ProjectionFailure(*row) for row in rows]

    def store(
        self, spec: ReadModelSpec[M], version: int, *, written_by: str | None = None
    ) -> PostgresReadModelStore[M]:
        """The store of version ``version`` of read model ``spec`` (created on first use).

        ``written_by``: the projection writing it. When it rebuilds this version (another
        version is live, or a reset here dropped the table), a table it creates gets its
        secondary indexes when the projector reaches the head (:meth:`caught_up`), not at
        creation. Not in the tenant-column layout, whose tables other tenants may serve from.
        """
        table = table_of(spec, version)
        store = self._stores.get(table)
        if store is None:
            live = None if written_by is None else self._live.get(written_by)
            rebuilt = table in self._reset or (live is not None and live != version)
            deferred = written_by is not None and self.db.tenant is None and rebuilt
            store = self._stores[table] = PostgresReadModelStore(
                self.db, spec, table=table, deferred_indexes=deferred
            )
        return cast(PostgresReadModelStore[M], store)


class _VersionStores:
    """The ``ReadModelStores`` one projection version writes."""

    def __init__(self, backend: PostgresProjectionBackend, name: str, version: int) -> None:
        self._backend, self._name, self._version = backend, name, version

    def __call__(self, spec: ReadModelSpec[M]) -> PostgresReadModelStore[M]:
        self._backend.owners.check(self._name, spec)
        return self._backend.store(spec, self._version, written_by=self._name)
