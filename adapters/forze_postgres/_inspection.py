"""What inspection tools ask of a PostgreSQL event store: is the schema this forze's, and
which streams does it hold. Both only read."""

from __future__ import annotations

from forze.domain.errors import EventStoreUnavailable
from forze_postgres._event_ddl import migrations
from forze_postgres._migrations import TENANT_SUFFIX, applied_version, newer_schema
from forze_postgres.database import PostgresDatabase
from forze_postgres.errors import translated

__all__ = ["check_event_schema", "stream_list"]


async def check_event_schema(db: PostgresDatabase) -> None:
    """Refuse, writing nothing, a schema that does not exist, holds no forze event store in
    ``db``'s tenancy layout, or was migrated by a newer or an older forze."""
    record = db.component("events")
    other = "events" if db.tenant is not None else f"events{TENANT_SUFFIX}"
    known = len(migrations(db.tenant is not None))
    async with db.connection() as connection:
        with translated(f"check the event store in schema {db.schema!r}"):
            current = await applied_version(connection, db.schema, record)
            elsewhere = await applied_version(connection, db.schema, other)
    if current is None:
        raise EventStoreUnavailable(
            f"PostgreSQL schema {db.schema!r} does not exist in this database:"
            " check the schema option",
            transient=False,
        )
    if current > known:
        raise newer_schema(db.schema, record, current, known)
    if current == known:
        return
    if current == 0 and elsewhere:
        layout = "without" if db.tenant is not None else "with"
        message = (
            f"schema {db.schema!r} holds its event store in the layout {layout} a tenant"
            " column: open it with the tenancy it was created with"
        )
    elif current == 0:
        message = f"schema {db.schema!r} holds no forze event store (no forze_events table)"
    else:
        message = (
            f"schema {db.schema!r} holds version {current} of the forze event tables, this"
            f" forze uses {known}: start the application once to migrate it"
        )
    raise EventStoreUnavailable(f"PostgreSQL {message}", transient=False)


async def stream_list(
    db: PostgresDatabase, category: str | None, limit: int | None
) -> list[tuple[str, int]]:
    """Every committed stream id with its version, sorted by id (optionally of one category,
    at most ``limit``)."""
    sql = f"SELECT stream_id, max(version) FROM {db.table('forze_events')}"
    arguments: list[object] = []
    where = []
    if db.tenant is not None:
        arguments.append(db.tenant)
        where.append("tenant = $1")
    if category is not None:
        arguments.append(category)
        where.append(f"category = ${len(arguments)}")
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " GROUP BY stream_id"
    sql += ' ORDER BY stream_id COLLATE "C"'
    if limit is not None:
        arguments.append(limit)
        sql += f" LIMIT ${len(arguments)}"
    async with db.connection() as connection:
        with translated("list the streams"):
            rows = await connection.fetch(sql, *arguments)
    return [(str(stream_id), int(version)) for stream_id, version in rows]
