"""Which forze store a factory opens: the ``FORZE_STORE`` setting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from eventsourcing.persistence import InfrastructureFactoryError

from forze.contracts import EventStore
from forze_eventsourcing._bridge import StoreCloser, StoreOpener

__all__ = ["FORZE_SCHEMA", "FORZE_STORE", "FORZE_TENANT", "shown_url", "store_opener"]

FORZE_STORE = "FORZE_STORE"
"""The setting naming the store: ``memory`` (the default), ``sqlite:///PATH`` (relative
to the working directory; ``sqlite:////abs/path.db`` for an absolute path), a PostgreSQL
DSN, ``postgresql://user:password@host:port/database`` (or ``postgres://...``), or a MongoDB
URL, ``mongodb://host:port/database`` (or ``mongodb+srv://...``; the database defaults to
``forze``)."""

FORZE_SCHEMA = "FORZE_SCHEMA"
"""The PostgreSQL schema of the store's tables (default ``public``)."""

FORZE_TENANT = "FORZE_TENANT"
"""A tenant of PostgreSQL's tenant-column layout, where tenants share the schema's tables
(default: none, the schema's own layout)."""

_SQLITE = "sqlite:///"
_POSTGRES = ("postgresql://", "postgres://")
_MONGO = ("mongodb://", "mongodb+srv://")


def _nothing() -> None:
    """Closing an in-memory store: nothing to release."""


def store_opener(setting: str, *, schema: str = "public", tenant: str | None = None) -> StoreOpener:
    """The opener of the store ``setting`` names (see :data:`FORZE_STORE`); anything else
    raises ``InfrastructureFactoryError``. Each opening makes a new store object.
    ``schema`` and ``tenant`` (:data:`FORZE_SCHEMA`, :data:`FORZE_TENANT`) apply to
    PostgreSQL only."""
    if setting == "memory":

        async def open_memory() -> tuple[EventStore, Callable[[], None]]:
            from forze_eventstore import InMemoryEventStore

            return InMemoryEventStore(), _nothing

        return open_memory
    if setting.startswith(_SQLITE) and len(setting) > len(_SQLITE):
        path = setting[len(_SQLITE) :]

        async def open_sqlite() -> tuple[EventStore, Callable[[], None]]:
            from forze_eventstore import SQLiteEventStore

            store = SQLiteEventStore(path)
            return store, store.close

        return open_sqlite
    if setting.startswith(_POSTGRES):
        dsn = setting

        async def open_postgres() -> tuple[EventStore, StoreCloser]:
            from forze_postgres import PostgresDatabase, PostgresEventStore

            db = await PostgresDatabase.connect(dsn, schema=schema, tenant=tenant)
            return await _migrated(PostgresEventStore(db), db)

        return open_postgres
    if setting.startswith(_MONGO):
        url = setting

        async def open_mongo() -> tuple[EventStore, StoreCloser]:
            from forze_mongo import MongoDatabase, MongoEventStore

            db = MongoDatabase.connect(url)
            return await _migrated(MongoEventStore(db), db)

        return open_mongo
    raise InfrastructureFactoryError(
        f"{FORZE_STORE}={shown_url(setting)!r}: expected 'memory', 'sqlite:///PATH',"
        " 'postgresql://...' or 'mongodb://...'"
    )


class _Closing(Protocol):
    async def close(self) -> None: ...


class _Migrating(EventStore, _Closing, Protocol):
    async def migrate(self) -> None: ...


async def _migrated(store: _Migrating, db: _Closing) -> tuple[EventStore, StoreCloser]:
    """``store`` with its schema made, and its closer (the store, then its database); both
    are closed when making the schema fails."""

    async def close() -> None:
        try:
            await store.close()
        finally:
            await db.close()

    try:
        await store.migrate()
    except BaseException:
        await close()
        raise
    return store, close


def shown_url(setting: str) -> str:
    """``setting`` without a password, for an error message."""
    scheme, sep, rest = setting.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return setting
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
