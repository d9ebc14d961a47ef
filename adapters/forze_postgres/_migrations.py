"""Applying a component's schema migrations, recorded in ``<schema>.forze_migrations``."""

from __future__ import annotations

from collections.abc import Sequence

from forze.domain.errors import EventStoreUnavailable, InvalidInputError
from forze_postgres._driver import Connection
from forze_postgres._timeouts import SCHEMA_CHANGE_TIMEOUT

__all__ = ["TENANT_SUFFIX", "applied_version", "apply_steps", "newer_schema"]

_MIGRATION_LOCK = 0x666F727A65  # "forze": serialises migrations of every schema
TENANT_SUFFIX = "@tenant-column"
"""Marks the migration records of components in the tenant-column layout."""


async def apply_steps(
    connection: Connection,
    schema: str,
    record: str,
    steps: Sequence[str],
    *,
    tenant_column: bool,
) -> int:
    """In the transaction of ``connection``: create ``schema`` and apply the ``steps`` of the
    component recorded as ``record`` not applied yet; return its version. A schema holding a
    component in the other layout (``tenant_column`` or not) is refused."""
    quoted = f'"{schema}"'
    # waits for other processes' migrations, which may build indexes of big tables
    await connection.execute(
        "SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK, timeout=SCHEMA_CHANGE_TIMEOUT
    )
    await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
    await connection.execute(
        f"CREATE TABLE IF NOT EXISTS {quoted}.forze_migrations ("
        " component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
    )
    other = await connection.fetchval(
        f"SELECT component FROM {quoted}.forze_migrations"
        f" WHERE (component LIKE '%{TENANT_SUFFIX}') <> $1 ORDER BY component LIMIT 1",
        tenant_column,
    )
    if other is not None:
        layout = "without" if tenant_column else "with"
        held = other.removesuffix(TENANT_SUFFIX)
        raise InvalidInputError(
            f"schema {schema!r} holds {held!r} in the layout {layout} a tenant"
            " column; open it with the tenancy it was created with"
        )
    current = await connection.fetchval(
        f"SELECT version FROM {quoted}.forze_migrations WHERE component = $1", record
    )
    current = current or 0
    if current > len(steps):
        raise newer_schema(schema, record, current, len(steps))
    for step in steps[current:]:
        await connection.execute(step.format(schema=quoted), timeout=SCHEMA_CHANGE_TIMEOUT)
    if len(steps) > current:
        await connection.execute(
            f"INSERT INTO {quoted}.forze_migrations (component, version)"
            " VALUES ($1, $2)"
            " ON CONFLICT (component) DO UPDATE SET version = excluded.version",
            record,
            len(steps),
        )
    return max(current, len(steps))


def newer_schema(schema: str, record: str, current: int, known: int) -> EventStoreUnavailable:
    """The refusal of a schema whose component ``record`` a newer forze migrated."""
    component = record.removesuffix(TENANT_SUFFIX)
    return EventStoreUnavailable(
        f"PostgreSQL schema {schema!r} was written by a newer forze: its {component!r} tables"
        f" are at version {current}, this forze knows {known}; upgrade forze to use it",
        transient=False,
    )


async def applied_version(connection: Connection, schema: str, record: str) -> int | None:
    """The applied version of component ``record`` in ``schema``, reading only: ``None``
    when the schema does not exist, 0 when the component was never migrated there."""
    exists = await connection.fetchval(
        "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)", schema
    )
    if not exists:
        return None
    table = f'"{schema}".forze_migrations'
    if not await connection.fetchval("SELECT to_regclass($1) IS NOT NULL", table):
        return 0
    version = await connection.fetchval(f"SELECT version FROM {table} WHERE component = $1", record)
    return int(version or 0)
