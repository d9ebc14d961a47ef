"""Stores for the command-line tests on every backend: a SQLite file, a PostgreSQL schema
(each tenancy layout) and a MongoDB database, each filled with the bank example's events,
its projection caught up, and a relay and a saga dispatcher that ran."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from forze import NewEvent
from forze.contracts import EventStore, StreamAppend
from forze_eventstore import SQLiteDatabase, SQLiteEventStore
from forze_examples.bank import PROJECTIONS
from forze_mongo import MongoDatabase, MongoEventStore, MongoProjectionBackend
from forze_postgres import PostgresDatabase, PostgresEventStore, PostgresProjectionBackend
from forze_projections import ProjectionBackend, Projector, SQLiteProjectionBackend
from tests.mongo_support import drop_databases, mongo_url

Opened = tuple[EventStore, ProjectionBackend]
"""A store's event store and projection backend, opened from the test's side."""

ACCOUNTS = 4
"""Accounts in a filled store; each has 3 events, and one ``order-1`` stream 2 more."""


@dataclass
class StoreCase:
    """One store the command line is run against: its options, and how to open it."""

    kind: str
    options: list[str]
    opener: Callable[[], AbstractAsyncContextManager[Opened]]
    notes: dict[str, str] = field(default_factory=dict)

    def open(self) -> AbstractAsyncContextManager[Opened]:
        """The store's event store and projection backend (writable)."""
        return self.opener()


async def big_store(path: Path, streams: int, per_stream: int) -> None:
    """A SQLite store at ``path`` with ``streams`` streams ``account-NNNNNN`` of
    ``per_stream`` events each, appended 100 streams at a time."""
    async with SQLiteEventStore(path) as store:
        for first in range(0, streams, 100):
            await store.append_many(
                [
                    StreamAppend(
                        f"account-{n:06}",
                        [NewEvent("Deposited", {"n": n, "k": k}) for k in range(per_stream)],
                        0,
                    )
                    for n in range(first, min(first + 100, streams))
                ]
            )


async def fill(case: StoreCase) -> int:
    """The bank's events in ``case``'s store, its projection caught up, a relay and a saga
    dispatcher's checkpoints and leases; returns the head position."""
    async with case.open() as (events, backend):
        for n in range(ACCOUNTS):
            opened = NewEvent("AccountOpened", {"owner": f"owner {n}", "overdraft_limit": 0})
            deposits = [NewEvent("MoneyDeposited", {"amount": 10 + m}) for m in range(2)]
            await events.append(f"account-{n:05}", [opened, *deposits], expected_version=0)
        await events.append(
            "order-1",
            [NewEvent("Placed", {"n": 1}), NewEvent("Paid", {"n": 1})],
            expected_version=0,
        )
        await Projector(events, backend, PROJECTIONS).catch_up()
        head = await events.head_position()
        await backend.checkpoints.save("relay:bus", head)
        await backend.leases.acquire("relay:bus", "worker-7", 1, 600)
        await backend.checkpoints.save("saga:fulfilment", head)
        return head


@contextmanager
def sqlite_case(directory: Path) -> Iterator[StoreCase]:
    """A SQLite file in ``directory``."""
    path = directory / "bank.sqlite"

    @asynccontextmanager
    async def opener() -> AsyncIterator[Opened]:
        db = SQLiteDatabase(path)
        try:
            yield SQLiteEventStore(db), SQLiteProjectionBackend(db)
        finally:
            db.close()

    yield StoreCase("sqlite", ["--store", f"sqlite:///{path}"], opener, {"path": str(path)})


@contextmanager
def postgres_case(dsn: str, *, tenant: str | None = None) -> Iterator[StoreCase]:
    """A new schema in the test database (dropped after), in the tenant-column layout when
    ``tenant`` is given."""
    schema = f"cli_{uuid.uuid4().hex[:10]}"

    @asynccontextmanager
    async def opener() -> AsyncIterator[Opened]:
        db = await PostgresDatabase.connect(dsn, schema=schema, tenant=tenant, max_size=4)
        store = PostgresEventStore(db)
        try:
            await store.migrate()
            yield store, PostgresProjectionBackend(db)
        finally:
            await store.close()
            await db.close()

    options = ["--store", dsn, "--schema", schema, *(["--tenant", tenant] if tenant else [])]
    try:
        yield StoreCase(
            "postgresql" if tenant is None else "postgresql-tenant",
            options,
            opener,
            {"dsn": dsn, "schema": schema},
        )
    finally:
        asyncio.run(drop_schema(dsn, schema))


async def drop_schema(dsn: str, schema: str) -> None:
    """Drop ``schema`` and everything in it (no error when it does not exist)."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await connection.close()


@contextmanager
def mongo_case() -> Iterator[StoreCase]:
    """A new database on the test server (dropped after)."""
    name = f"forze_test_cli_{uuid.uuid4().hex[:10]}"
    url = mongo_url(name)

    @asynccontextmanager
    async def opener() -> AsyncIterator[Opened]:
        db = MongoDatabase.connect(url)
        store = MongoEventStore(db)
        try:
            await store.migrate()
            yield store, MongoProjectionBackend(db)
        finally:
            await store.close()
            await db.close()

    try:
        yield StoreCase("mongodb", ["--store", url], opener, {"url": url, "database": name})
    finally:
        asyncio.run(drop_databases([name]))


def store_case(
    kind: str, directory: Path, postgres_dsn: Callable[[], str]
) -> AbstractContextManager[StoreCase]:
    """An empty store of ``kind`` (``sqlite``, ``postgresql``, ``postgresql-tenant`` or
    ``mongodb``); ``postgres_dsn`` is called only for PostgreSQL (a session fixture)."""
    if kind == "sqlite":
        return sqlite_case(directory)
    if kind == "mongodb":
        return mongo_case()
    return postgres_case(postgres_dsn(), tenant="acme" if kind == "postgresql-tenant" else None)
