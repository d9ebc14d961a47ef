"""Which store an operational ``forze`` command works on, and opening it.

The store is the application's own (``--app package.module:make_runtime``: the runtime it
builds, with its projections and event types) or a URL: ``--store`` (``sqlite:///PATH``,
``postgresql://...`` or ``mongodb://...``), else ``--db FILE`` (a SQLite file), else the
``FORZE_STORE`` environment variable, else the demo's file. PostgreSQL takes ``--schema`` and
``--tenant`` (the tenant-column layout); a MongoDB store's database is the URL's path.

Opening checks before anything runs, and each failure is one line: an unreachable server,
a schema or database that holds no forze event store (a wrong ``--schema``, a missing
table), or a store written by a newer forze. Reading commands change nothing: SQLite opens
read-only, and on PostgreSQL a schema whose projection tables do not exist yet reads as one
where no projection has run (they are not created).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

from forze.contracts import EventStore
from forze.domain.errors import EventStoreUnavailable, InvalidInputError
from forze_eventstore import EventCodec
from forze_projections import ProjectionBackend, Projector

__all__ = [
    "DEFAULT_DB",
    "STORE_ENV",
    "Inspectable",
    "OpenStore",
    "StoreTarget",
    "open_store",
    "store_target",
]

STORE_ENV = "FORZE_STORE"
"""The environment variable naming the store when neither ``--store`` nor ``--db`` does."""

DEFAULT_DB = Path("forze-demo.sqlite")
"""The demo's file: the store when nothing else names one."""

Kind = Literal["sqlite", "postgresql", "mongodb", "app"]

_SCHEMES: dict[str, Kind] = {
    "sqlite": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mongodb": "mongodb",
    "mongodb+srv": "mongodb",
}


@runtime_checkable
class Inspectable(EventStore, Protocol):
    """An event store that lists its streams (every store the command line opens)."""

    async def list_streams(
        self, *, category: str | None = None, limit: int | None = None
    ) -> list[tuple[str, int]]:
        """Every stream id with its version, sorted by id."""
        ...


@dataclass(frozen=True, slots=True)
class StoreTarget:
    """A store to open: its URL and PostgreSQL's schema and tenant, or an application's
    runtime factory (``app``, ``package.module:NAME``; then ``url`` is unused)."""

    url: str
    schema: str = "public"
    tenant: str | None = None
    app: str | None = None

    @property
    def kind(self) -> Kind:
        """Which adapter opens it (``app``: the application's runtime)."""
        if self.app is not None:
            return "app"
        return _SCHEMES[self.url.partition("://")[0].lower()]

    @property
    def path(self) -> Path:
        """A SQLite store's file (``sqlite:///rel`` is relative, ``sqlite:////abs``
        absolute)."""
        return Path(self.url.partition("://")[2].removeprefix("/"))

    def describe(self) -> str:
        """The store for messages: the file, the URL without its password, or the
        application."""
        if self.app is not None:
            return f"the store of {self.app}"
        if self.kind == "sqlite":
            return str(self.path)
        parts = urlsplit(self.url)
        if parts.password is not None:
            host = parts.netloc.rpartition("@")[2]
            parts = parts._replace(netloc=f"{parts.username}:***@{host}")
        shown = urlunsplit(parts)
        if self.kind == "postgresql":
            tenant = f", tenant {self.tenant}" if self.tenant else ""
            shown += f" (schema {self.schema}{tenant})"
        return shown


def store_target(
    *,
    db: Path | None,
    store: str | None,
    schema: str | None = None,
    tenant: str | None = None,
    app: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> StoreTarget:
    """The store the options name (see the module), checked: ``InvalidInputError`` for a URL
    of no known kind, two ways of naming the store, or PostgreSQL options on another store."""
    if sum(option is not None for option in (store, db, app)) > 1:
        raise InvalidInputError("give the store once: --app, --store or --db, not several")
    if app is not None:
        if schema is not None or tenant is not None:
            raise InvalidInputError(
                "--schema and --tenant do not apply to --app: the application's runtime"
                " names its store"
            )
        return StoreTarget("", app=app)
    if store is not None:
        url, source = store, "--store"
    elif db is not None:
        url, source = f"sqlite:///{db}", "--db"
    elif environ.get(STORE_ENV):
        url, source = environ[STORE_ENV], STORE_ENV
    else:
        url, source = f"sqlite:///{DEFAULT_DB}", "the default"
    scheme, found, rest = url.partition("://")
    if not found or scheme.lower() not in _SCHEMES or not rest:
        shown = f"{scheme}://..." if found else repr(url[:80])
        raise InvalidInputError(
            f"{source} must be a sqlite:///PATH, postgresql://... or mongodb://... URL, not {shown}"
        )
    target = StoreTarget(url, schema or "public", tenant)
    if target.kind != "postgresql" and (schema is not None or tenant is not None):
        raise InvalidInputError(
            "--schema and --tenant apply to a PostgreSQL store; a MongoDB store's database"
            " is the URL's path, a SQLite store is one file"
        )
    return target


@dataclass(frozen=True, slots=True)
class OpenStore:
    """An opened store: its events and its projections' storage and, for an application's
    store, its projector and event codec."""

    target: StoreTarget
    events: Inspectable
    backend: ProjectionBackend
    projector: Projector | None = None
    """The application's projector (``None``: a store opened by URL has no code)."""
    codec: EventCodec | None = None
    """The application's events codec (``None``: a store opened by URL has no code)."""


@asynccontextmanager
async def open_store(
    target: StoreTarget, *, write: bool = False, create: bool = False
) -> AsyncIterator[OpenStore]:
    """Open the event store ``target`` names, which must exist (nothing is created), and its
    projection backend; ``write`` lets commands change projections (rebuild, reset);
    ``create`` (for ``forze import``) creates or migrates the event store instead, as an
    application does when it starts (a SQLite file, a schema, a database's collections)."""
    write = write or create
    if target.app is not None:
        from forze_cli._app import open_app

        opened = open_app(target)
    elif target.kind == "sqlite":
        opened = _sqlite(target, write=write, create=create)
    elif target.kind == "postgresql":
        opened = _postgres(target, write=write, create=create)
    else:
        opened = _mongo(target, create=create)
    async with opened as store:
        yield store


@asynccontextmanager
async def _sqlite(
    target: StoreTarget, *, write: bool, create: bool = False
) -> AsyncIterator[OpenStore]:
    from forze_eventstore import SQLiteDatabase, SQLiteEventStore
    from forze_projections import InMemoryProjectionBackend, SQLiteProjectionBackend

    path = target.path
    if create and not path.exists():
        SQLiteEventStore(path).close()  # a new, empty forze store
    if not path.is_file():
        raise InvalidInputError(f"no event store at {str(path)!r} (run 'forze demo' first?)")
    if write:  # refuse a file that is not a forze store before opening it writable
        SQLiteEventStore(path, read_only=True).close()
    db = SQLiteDatabase(path, read_only=not write)
    try:
        events = SQLiteEventStore(db)
        backend: ProjectionBackend
        if write or db.schema_version("projections"):
            backend = SQLiteProjectionBackend(db)
        else:  # no projection ran: read as such, create nothing
            backend = InMemoryProjectionBackend()
        yield OpenStore(target, events, backend)
    finally:
        db.close()


@asynccontextmanager
async def _postgres(
    target: StoreTarget, *, write: bool, create: bool = False
) -> AsyncIterator[OpenStore]:
    from forze_postgres import PostgresDatabase, PostgresEventStore, PostgresProjectionBackend
    from forze_projections import InMemoryProjectionBackend

    db = await PostgresDatabase.connect(
        target.url, schema=target.schema, tenant=target.tenant, min_size=1, max_size=2
    )
    store = PostgresEventStore(db)
    try:
        await (store.migrate() if create else store.check_schema())
        backend: ProjectionBackend = PostgresProjectionBackend(db)
        if not write and not await db.applied_version("projections"):
            backend = InMemoryProjectionBackend()  # no projection ran: read as such, create nothing
        yield OpenStore(target, store, backend)
    finally:
        await store.close()
        await db.close()


@asynccontextmanager
async def _mongo(target: StoreTarget, *, create: bool = False) -> AsyncIterator[OpenStore]:
    from forze_mongo import MongoDatabase, MongoEventStore, MongoProjectionBackend

    db = MongoDatabase.connect(target.url)
    store = MongoEventStore(db)
    try:
        try:
            await (store.migrate() if create else store.check_schema())
        except EventStoreUnavailable as error:
            if not error.transient:
                raise
            raise EventStoreUnavailable(
                f"cannot reach MongoDB at {target.describe()}: {error}"
            ) from error
        yield OpenStore(target, store, MongoProjectionBackend(db))
    finally:
        await store.close()
        await db.close()
