"""``PostgresDatabase``: a pool, schema migrations, and transactions owned by asyncio tasks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import Any, TypeVar

from forze.domain.errors import EventStoreUnavailable, InvalidInputError, ReadOnlyOperationError
from forze_postgres._borrowed import Borrowed, current_task
from forze_postgres._driver import Connection, abandoned, asyncpg, drop, is_open
from forze_postgres._event_sql import lock_key
from forze_postgres._migrations import TENANT_SUFFIX, applied_version, apply_steps
from forze_postgres._pool import open_pool
from forze_postgres._reuse import Reuse, keep_for
from forze_postgres._timeouts import (
    DEFAULT_COMMAND_TIMEOUT,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_KEEPALIVE_COUNT,
    DEFAULT_KEEPALIVE_IDLE,
    DEFAULT_KEEPALIVE_INTERVAL,
    Timeouts,
)
from forze_postgres.errors import translated

__all__ = ["PostgresDatabase"]

T = TypeVar("T")

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
        if not schema.isidentifier() or len(schema.encode()) > 63:
            # PostgreSQL would cut a longer name, so two schemas could become one.
            raise InvalidInputError(f"schema {schema!r} must be an identifier of at most 63 bytes")
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
        return name if self.tenant is None else f"{name}{TENANT_SUFFIX}"

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        schema: str = "public",
        tenant: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        command_timeout: float | None = DEFAULT_COMMAND_TIMEOUT,
        keepalive_idle: float | None = DEFAULT_KEEPALIVE_IDLE,
        keepalive_interval: float = DEFAULT_KEEPALIVE_INTERVAL,
        keepalive_count: int = DEFAULT_KEEPALIVE_COUNT,
    ) -> PostgresDatabase:
        """Open a pool to ``dsn``; :meth:`close` closes it.

        Waiting on the server is bounded (see ``forze_postgres._timeouts``): a new connection
        waits ``connect_timeout`` seconds (default 10), a statement ``command_timeout``
        seconds (default 30; None: no limit); either failing is a transient
        ``EventStoreUnavailable`` naming the timeout. TCP keepalives on both ends find a
        peer that went silent (a network partition): after ``keepalive_idle`` seconds
        without traffic (default 10; None: the OS's and server's settings), a probe every
        ``keepalive_interval`` seconds (default 5), dropped after ``keepalive_count``
        unanswered ones (default 3), so within about 25 s. A caller that is cancelled
        (``asyncio.timeout`` included), or whose statement timed out, gets control back at
        once: the connection it was using goes back to the pool from a background task once
        the server has cancelled the statement and rolled back what it left open, or is
        closed if the server does not answer within the command timeout (a partition).
        """
        timeouts = Timeouts(
            connect_timeout, command_timeout, keepalive_idle, keepalive_interval, keepalive_count
        )
        pool = await open_pool(dsn, min_size=min_size, max_size=max_size, timeouts=timeouts)
        db = cls(pool, schema=schema, tenant=tenant, owns_pool=True)
        db._reuse.budget = timeouts.close_within
        return db

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
        with translated(f"migrate {component!r} in schema {self.schema!r}"):
            async with self.transaction(appends=False) as connection:
                return await apply_steps(
                    connection,
                    self.schema,
                    self.component(component),
                    steps,
                    tenant_column=self.tenant is not None,
                )

    async def applied_version(self, component: str) -> int:
        """The version of ``component``'s tables in this schema and layout, reading only
        (nothing is created): 0 when they were never made (or the schema does not exist)."""
        with translated(f"read the version of {component!r} in schema {self.schema!r}"):
            async with self.connection() as connection:
                found = await applied_version(connection, self.schema, self.component(component))
        return found or 0

    def connection(self) -> AbstractAsyncContextManager[Connection]:
        """The calling task's transaction connection, or a pooled one for this block."""
        return Borrowed(self)

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
        task = current_task()
        pinned = self._pinned.get(task)
        if pinned is not None:
            yield pinned
            return
        connection = await self._take()
        transaction = connection.transaction()
        clean = given_up = False
        try:
            with translated("PostgreSQL transaction"):
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
            except BaseException as error:
                self._forget(task)
                given_up = abandoned(error)
                if not given_up and is_open(connection):
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
        except BaseException as error:  # BEGIN or COMMIT cancelled or timed out, too
            given_up = given_up or abandoned(error)
            raise
        finally:
            self._forget(task)
            self._after_commit.pop(task, None)
            if given_up:  # rolled back in the background: the caller does not wait
                self._reuse.retire(connection, transaction)
            else:
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
        task = current_task()
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
        task = current_task() if self._pinned else None
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
        return bool(self._pinned) and current_task() in self._pinned

    async def acquire(self) -> Connection:
        """A connection for the caller alone until :meth:`release` (the LISTEN connection);
        :meth:`close` closes it if it was not given back."""
        return await self._take(lend=True)

    async def _take(self, *, lend: bool = False) -> Connection:
        if self.closed:
            raise EventStoreUnavailable("PostgreSQL database is closed", transient=False)
        with translated("cannot reach PostgreSQL", "connect_timeout"):
            return await self._reuse.acquire(lend=lend)

    async def release(self, connection: Connection, *, close: bool = False) -> None:
        """Give back a connection from :meth:`acquire` (through the pool's reset), or with
        ``close`` close it at once, which ends its server session."""
        if close:
            self._reuse.lent.discard(connection)
            drop(connection)
        await self._reuse.release(connection, clean=False)

    @property
    def closed(self) -> bool:
        """Whether the pool is closed or closing (nothing more is lent from it)."""
        return self._reuse.draining or self.pool.is_closing()

    async def close(self) -> None:
        """Close the pool if this object opened it (views and borrowed pools stay open).

        Connections lent by :meth:`acquire` and never given back (the LISTEN connection of
        an event store that was not closed) are closed first. Connections in use by running
        tasks are waited for up to ``command_timeout`` seconds (30 without one), then
        terminated, their transactions rolled back: ``close`` always returns.
        """
        if self._owns_pool:
            await self._reuse.drain()
            self._reuse.drop_lent()
            try:
                await asyncio.wait_for(self.pool.close(), self._reuse.budget)
            except TimeoutError:
                self.pool.terminate()
            await self._reuse.settle()

    async def __aenter__(self) -> PostgresDatabase:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
