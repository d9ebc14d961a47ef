"""``PostgresDatabase``: a pool, schema migrations, and transactions owned by asyncio tasks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import Any, TypeVar

from forze.domain.errors import EventStoreUnavailable, InvalidInputError, ReadOnlyOperationError
from forze_postgres._driver import Connection, asyncpg, is_open
from forze_postgres._event_sql import lock_key
from forze_postgres._reuse import Reuse, keep_for
from forze_postgres.errors import translated

__all__ = ["PostgresDatabase"]

T = TypeVar("T")

_MIGRATION_LOCK = 0x666F727A65  # "forze": serialises migrations of every schema
_TENANT_SUFFIX = "@tenant-column"
"""Marks the migration records of components in the tenant-column layout."""
_LOST = (
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.AdminShutdownError,
    asyncpg.InternalClientError,
    asyncpg.InterfaceError,
    ConnectionError,
)
"""What a statement on a connection the server dropped (or is dropping) fails with."""


class PostgresDatabase:
    """An asyncpg pool and the schema forze's tables live in.

    ``schema`` isolates one application: every table forze creates is qualified with it.
    Multi-tenancy is chosen here, in one of two layouts:

    * **schema per tenant**: one ``PostgresDatabase`` per tenant, ``schema=<tenant's schema>``,
      ``tenant=None``; a tenant's data is dropped with its schema.
    * **tenant column**: every tenant shares the schema's tables, which then carry a ``tenant``
      column leading their keys and indexes; ``tenant="acme"`` (or ``db.for_tenant("acme")``
      on one shared pool) makes every store built on this object read and write only that
      tenant's rows. Global positions stay unique across tenants; each tenant's feed,
      streams, snapshots, checkpoints and read models are its own.

    A schema holds one layout: opening a tenant-column schema without a tenant, or the
    reverse, is an ``InvalidInputError`` at migration.

    A task's ``transaction()`` pins one pooled connection; the same task's stores join it (a
    projector's batch commits its read-model writes with its checkpoint), while other tasks
    use other connections concurrently. Views made by :meth:`for_tenant` share the pool and
    the pinned transactions.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        schema: str = "public",
        tenant: str | None = None,
        owns_pool: bool = False,
    ):
        if not schema.isidentifier():
            raise InvalidInputError(f"schema {schema!r} must be an identifier")
        if tenant is not None and (not tenant or "\x00" in tenant):
            raise InvalidInputError(f"tenant {tenant!r} must be a non-empty string without NUL")
        self.pool = pool
        self.schema = schema
        self.tenant = tenant
        """The tenant of the tenant-column layout, or None (a schema of its own)."""
        self._owns_pool = owns_pool
        self._reuse = Reuse(pool, keep=keep_for(pool) if owns_pool else 0)
        self._pinned: dict[asyncio.Task[Any], Connection] = {}
        self._after_commit: dict[asyncio.Task[Any], list[Callable[[], None]]] = {}
        self._may_append: set[asyncio.Task[Any]] = set()
        """Tasks whose transaction holds the feed lock (see :meth:`transaction`)."""

    def for_tenant(self, tenant: str) -> PostgresDatabase:
        """This pool and schema in the tenant-column layout, as ``tenant``.

        The view shares the pool and the calling tasks' transactions; closing it closes
        nothing.
        """
        view = PostgresDatabase(self.pool, schema=self.schema, tenant=tenant)
        view._pinned = self._pinned
        view._after_commit = self._after_commit
        view._may_append = self._may_append
        view._reuse = self._reuse
        return view

    def same_database(self, other: PostgresDatabase) -> bool:
        """Whether ``other`` is this database: same pool, transactions, schema and tenant
        (itself, or another :meth:`for_tenant` view of the same tenant)."""
        return (
            other._pinned is self._pinned
            and other.schema == self.schema
            and other.tenant == self.tenant
        )

    def component(self, name: str) -> str:
        """The migration record of component ``name`` in this database's layout."""
        return name if self.tenant is None else f"{name}{_TENANT_SUFFIX}"

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        schema: str = "public",
        tenant: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
    ) -> PostgresDatabase:
        """Open a pool to ``dsn``; :meth:`close` closes it.

        forze's connections keep no session state (no ``SET``, no session advisory lock; the
        LISTEN connection unlistens before it goes back), so a connection returning to this
        pool is only rolled back if a transaction was left open, instead of asyncpg's default
        ``RESET ALL; UNLISTEN *; ...`` round trip on every release.
        """
        with translated(f"cannot connect to PostgreSQL at {_safe(dsn)}"):
            pool = await asyncpg.create_pool(
                dsn, min_size=min_size, max_size=max_size, reset=_keep_session
            )
        return cls(pool, schema=schema, tenant=tenant, owns_pool=True)

    def table(self, name: str) -> str:
        """The schema-qualified, quoted name of a forze table."""
        return f'"{self.schema}"."{name}"'

    async def migrate(self, component: str, steps: Sequence[str]) -> int:
        """Create the schema and apply ``component``'s SQL steps not applied yet.

        Steps may use ``{schema}`` for the quoted schema name; callers pass the steps of this
        database's layout (see :attr:`tenant`), which are recorded apart; a schema holding
        any component in the other layout is refused, so one schema never mixes layouts.
        Concurrent callers (several processes starting at once) are serialised by an
        advisory lock.
        """
        quoted = f'"{self.schema}"'
        record = self.component(component)
        with translated(f"migrate {component!r} in schema {self.schema!r}"):
            async with self.transaction(appends=False) as connection:
                await connection.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
                await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
                await connection.execute(
                    f"CREATE TABLE IF NOT EXISTS {quoted}.forze_migrations ("
                    " component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
                )
                other = await connection.fetchval(
                    f"SELECT component FROM {quoted}.forze_migrations"
                    f" WHERE (component LIKE '%{_TENANT_SUFFIX}') <> $1 ORDER BY component LIMIT 1",
                    self.tenant is not None,
                )
                if other is not None:
                    layout = "without" if self.tenant is not None else "with"
                    held = other.removesuffix(_TENANT_SUFFIX)
                    raise InvalidInputError(
                        f"schema {self.schema!r} holds {held!r} in the layout {layout} a tenant"
                        " column; open it with the tenancy it was created with"
                    )
                current = await connection.fetchval(
                    f"SELECT version FROM {quoted}.forze_migrations WHERE component = $1", record
                )
                current = current or 0
                for step in steps[current:]:
                    await connection.execute(step.format(schema=quoted))
                if len(steps) > current:
                    await connection.execute(
                        f"INSERT INTO {quoted}.forze_migrations (component, version)"
                        " VALUES ($1, $2)"
                        " ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                        record,
                        len(steps),
                    )
                return max(current, len(steps))

    def connection(self) -> AbstractAsyncContextManager[Connection]:
        """The calling task's transaction connection, or a pooled one for this block."""
        return _Borrowed(self)

    @asynccontextmanager
    async def transaction(self, *, appends: bool = True) -> AsyncIterator[Connection]:
        """A transaction pinned to the calling task; nested calls by that task join it.

        With ``appends`` (the default) the transaction takes the schema's feed lock at
        ``BEGIN``, before anything gives it a transaction id, so that it may append events
        at any point: feed readers treat it as possibly in flight, and hold their watermark
        below it, until it ends. forze's own read-model, checkpoint, snapshot and projector
        transactions pass ``appends=False`` and so never hold the feed back; an append may
        still join such a transaction before its first write (see :meth:`before_append`).
        """
        task = _task()
        pinned = self._pinned.get(task)
        if pinned is not None:
            yield pinned
            return
        connection = await self.acquire()
        clean = False
        try:
            with translated("PostgreSQL transaction"):
                transaction = connection.transaction()
                await transaction.start()
                if appends:
                    # Before anything assigns this transaction an id: appends inside it must
                    # be seen by feed readers as possibly in flight (forze_postgres._event_sql).
                    await connection.execute(
                        "SELECT pg_advisory_xact_lock_shared($1::bigint)", lock_key(self.schema)
                    )
                    self._may_append.add(task)
            self._pinned[task] = connection
            try:
                yield connection
            except BaseException:
                self._forget(task)
                if is_open(connection):
                    # a connection lost meanwhile fails here too: the first error is the one
                    with contextlib.suppress(Exception):
                        await transaction.rollback()
                raise
            self._forget(task)
            with translated("PostgreSQL commit"):
                await transaction.commit()
            clean = True
            for callback in self._after_commit.pop(task, ()):
                callback()
        finally:
            self._forget(task)
            self._after_commit.pop(task, None)
            await self._reuse.release(connection, clean=clean)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._pinned.pop(task, None)
        self._may_append.discard(task)

    async def before_append(self, connection: Connection) -> None:
        """Let the calling task's transaction append events (the event store calls this).

        A transaction opened with ``appends=False`` takes the feed lock now. That is only
        safe before its first write, which gives it a transaction id, and so a block of
        positions that readers may already have passed: after a write it raises
        ``ReadOnlyOperationError`` and stores nothing.
        """
        task = _task()
        if task not in self._pinned or task in self._may_append:
            return
        with translated("PostgreSQL feed lock"):
            # Nothing in this statement assigns an id, so the order of the two calls is moot.
            row = await connection.fetchrow(
                "SELECT pg_advisory_xact_lock_shared($1::bigint), pg_current_xact_id_if_assigned()",
                lock_key(self.schema),
            )
        if row is not None and row[1] is not None:
            raise ReadOnlyOperationError(
                "cannot append events in a transaction opened with appends=False after it"
                " wrote: open it with PostgresDatabase.transaction() to append"
            )
        self._may_append.add(task)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once the calling task's transaction commits (now if it has none).

        Nothing is called if the transaction rolls back. Callbacks must not raise.
        """
        # no transaction anywhere (the common case): no need to look up the task
        task = _task() if self._pinned else None
        if task is not None and task in self._pinned:
            self._after_commit.setdefault(task, []).append(callback)
        else:
            callback()

    async def lost_outside_transaction(self, error: EventStoreUnavailable) -> bool:
        """Whether ``error`` came from a connection the server had dropped, outside any
        transaction of the calling task: then sending the statement once more is up to the
        caller. Either way, a dropped connection usually means a restart or a failover that
        dropped the others too, so every connection of the pool is replaced before its next
        use (the ones kept between calls as well)."""
        if not isinstance(error.__cause__, _LOST):
            return False
        await self._reuse.drain(keep_on=True)
        with contextlib.suppress(Exception):
            await self.pool.expire_connections()
        return not self.in_transaction()

    async def retrying(self, work: Callable[[], Awaitable[T]]) -> T:
        """``await work()``; if it failed on a connection the server had dropped, outside
        the calling task's transaction, once more (on a new connection: see
        :meth:`lost_outside_transaction`). For reads, and for appends, which event ids make
        safe to send twice."""
        try:
            return await work()
        except EventStoreUnavailable as error:
            if not await self.lost_outside_transaction(error):
                raise
        return await work()

    def in_transaction(self) -> bool:
        """Whether the calling task holds a transaction of this database."""
        return bool(self._pinned) and _task() in self._pinned

    async def acquire(self) -> Connection:
        """A connection for the caller alone until :meth:`release` (the LISTEN connection)."""
        with translated("cannot reach PostgreSQL"):
            return await self._reuse.acquire()

    async def release(self, connection: Connection) -> None:
        """Give back a connection from :meth:`acquire` (through the pool's reset)."""
        await self._reuse.release(connection, clean=False)

    async def close(self) -> None:
        """Close the pool if this object opened it (views and borrowed pools stay open)."""
        if self._owns_pool:
            await self._reuse.drain()
            await self.pool.close()

    async def __aenter__(self) -> PostgresDatabase:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class _Borrowed:
    """``PostgresDatabase.connection()``: a class rather than a generator, because every
    statement of forze goes through it."""

    __slots__ = ("connection", "db", "pinned")

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db
        self.pinned = False
        self.connection: Connection | None = None

    async def __aenter__(self) -> Connection:
        pinned = self.db._pinned.get(_task()) if self.db._pinned else None
        if pinned is not None:
            self.pinned = True
            return pinned
        # a kept connection is the common case: taken without a coroutine
        self.connection = self.db._reuse.take_kept() or await self.db.acquire()
        return self.connection

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.connection is not None:
            connection, self.connection = self.connection, None
            await self.db._reuse.release(connection, clean=exc_type is None)


async def _keep_session(_connection: object) -> None:
    """The pool's reset: nothing beyond asyncpg's own rollback of an abandoned transaction."""


def _task() -> asyncio.Task[Any]:
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("forze_postgres must be used from an asyncio task")
    return task


def _safe(dsn: str) -> str:
    """The DSN without its password, for messages."""
    head, at, tail = dsn.rpartition("@")
    if not at:
        return dsn
    scheme, _, credentials = head.partition("://")
    user = credentials.partition(":")[0]
    return f"{scheme}://{user}@{tail}"
