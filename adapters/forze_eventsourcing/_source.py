"""Reading an ``eventsourcing`` database: its application recorder's stored events, in
notification order, from eventsourcing's PostgreSQL or SQLite table.

The table is found, never pasted: every table of the database with eventsourcing's columns
is listed from the catalog, a requested name must be one of them, and it reaches SQL quoted.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from forze.domain.errors import EventStoreUnavailable, InvalidInputError
from forze_eventsourcing._stores import shown_url
from forze_projections.adapter_kit import quote_identifier

if TYPE_CHECKING:
    import asyncpg

__all__ = ["EventsourcingSource", "SourceRecord", "open_source"]

_COLUMNS = ("originator_id", "originator_version", "topic", "state")
"""The columns of every eventsourcing recorder table; an application recorder's table
adds ``notification_id`` (PostgreSQL) or numbers its rows by ``rowid`` (SQLite)."""


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One stored event of the source, with its notification id."""

    notification_id: int
    originator_id: UUID | str
    originator_version: int
    topic: str
    state: bytes


class EventsourcingSource(Protocol):
    """An opened eventsourcing database, reading one application's events table."""

    table: str
    """The table read (``schema.table`` on PostgreSQL)."""

    async def count_after(self, after: int) -> int:
        """How many events have a notification id above ``after``."""
        ...

    async def read_after(self, after: int, limit: int) -> list[SourceRecord]:
        """Up to ``limit`` events with notification ids above ``after``, in id order."""
        ...

    async def close(self) -> None:
        """Close the connection."""
        ...


def _chosen(found: Sequence[str], table: str | None, where: str) -> str:
    """The table to read: ``table`` if it is one of ``found``, else the only one found."""
    if table is not None:
        if table in found:
            return table
        listed = ", ".join(found) or "none"
        raise InvalidInputError(
            f"{where} has no eventsourcing events table {table!r} (tables with"
            f" eventsourcing's notification columns: {listed})"
        )
    if len(found) == 1:
        return found[0]
    if not found:
        raise InvalidInputError(f"{where} holds no eventsourcing application's events table")
    raise InvalidInputError(
        f"{where} holds several eventsourcing events tables ({', '.join(found)}):"
        " choose one with --table"
    )


async def open_source(
    url: str, *, table: str | None = None, text_ids: bool = False, connect_seconds: float = 10.0
) -> EventsourcingSource:
    """Open the eventsourcing database ``url`` (``postgresql://...`` or ``sqlite:///PATH``)
    and its events table: ``table`` (``schema.table`` on PostgreSQL when not ``public``),
    or the only table with eventsourcing's application recorder columns. SQLite stores
    originator ids as text: they are read as UUIDs when they are UUIDs, as eventsourcing's
    default does, unless ``text_ids``. Connecting waits at most ``connect_seconds``, and
    each query 60 s."""
    if url.startswith(("postgresql://", "postgres://")):
        return await _PostgresSource.open(url, table, connect_seconds)
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return await asyncio.to_thread(_SQLiteSource.open, url, table, text_ids, connect_seconds)
    raise InvalidInputError(
        f"{shown_url(url)!r}: an eventsourcing database is postgresql://... or sqlite:///PATH"
    )


class _PostgresSource:
    """eventsourcing's PostgreSQL application recorder table, read with asyncpg."""

    def __init__(self, connection: asyncpg.Connection, table: str, uuids: bool) -> None:
        self.table = table
        schema, _, name = table.rpartition(".")
        self._from = f"{quote_identifier(schema or 'public')}.{quote_identifier(name)}"
        self._connection = connection
        self._uuids = uuids

    @classmethod
    async def open(cls, url: str, table: str | None, seconds: float) -> _PostgresSource:
        import asyncpg

        shown = shown_url(url)
        try:
            connection = await asyncpg.connect(url, timeout=seconds, command_timeout=60)
        except (
            asyncpg.InvalidCatalogNameError,
            asyncpg.InvalidAuthorizationSpecificationError,
        ) as error:
            raise EventStoreUnavailable(f"{shown}: {error}", transient=False) from error
        except (OSError, TimeoutError, asyncpg.PostgresError) as error:
            raise EventStoreUnavailable(f"cannot reach {shown}: {error}") from error
        try:
            rows = await connection.fetch(
                "SELECT table_schema, table_name,"
                " bool_or(column_name = 'originator_id' AND data_type = 'uuid') AS uuids"
                " FROM information_schema.columns"
                " WHERE column_name = ANY($1::text[])"
                " AND table_schema NOT IN ('pg_catalog', 'information_schema')"
                " GROUP BY table_schema, table_name HAVING count(*) = $2"
                " ORDER BY table_schema, table_name",
                [*_COLUMNS, "notification_id"],
                len(_COLUMNS) + 1,
            )
            names = {
                (
                    row["table_name"]
                    if row["table_schema"] == "public"
                    else f"{row['table_schema']}.{row['table_name']}"
                ): bool(row["uuids"])
                for row in rows
            }
            if table is not None:
                table = table.removeprefix("public.")
            chosen = _chosen(list(names), table, shown)
        except BaseException:
            await connection.close()
            raise
        return cls(connection, chosen, names[chosen])

    async def count_after(self, after: int) -> int:
        count = await self._run(
            self._connection.fetchval,
            f"SELECT count(*) FROM {self._from} WHERE notification_id > $1",
            after,
        )
        return int(count)

    async def read_after(self, after: int, limit: int) -> list[SourceRecord]:
        rows = await self._run(
            self._connection.fetch,
            "SELECT notification_id, originator_id::text AS originator_id,"
            f" originator_version, topic, state FROM {self._from}"
            " WHERE notification_id > $1 ORDER BY notification_id LIMIT $2",
            after,
            limit,
        )
        return [
            SourceRecord(
                int(row["notification_id"]),
                UUID(row["originator_id"]) if self._uuids else row["originator_id"],
                int(row["originator_version"]),
                row["topic"],
                bytes(row["state"]),
            )
            for row in rows
        ]

    async def _run(self, method: Any, *arguments: Any) -> Any:
        import asyncpg

        try:
            return await method(*arguments)
        except (OSError, TimeoutError, asyncpg.PostgresConnectionError) as error:
            raise EventStoreUnavailable(f"reading {self.table}: {error}") from error

    async def close(self) -> None:
        await self._connection.close()


class _SQLiteSource:
    """eventsourcing's SQLite application recorder table (notification id = ``rowid``),
    opened read-only; calls run in a worker thread."""

    def __init__(self, connection: sqlite3.Connection, table: str, text_ids: bool) -> None:
        self.table = table
        self._from = quote_identifier(table)
        self._connection = connection
        self._text_ids = text_ids
        self._lock = asyncio.Lock()

    @classmethod
    def open(cls, url: str, table: str | None, text_ids: bool, timeout: float) -> _SQLiteSource:
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_file():
            raise InvalidInputError(f"no SQLite database at {str(path)!r}")
        try:
            connection = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro",
                uri=True,
                timeout=timeout,
                check_same_thread=False,
            )
        except sqlite3.Error as error:
            raise EventStoreUnavailable(f"cannot open {str(path)!r}: {error}") from error
        try:
            found = [
                name for name in _tables(connection) if _is_application_table(connection, name)
            ]
            chosen = _chosen(found, table, repr(str(path)))
        except sqlite3.DatabaseError as error:
            connection.close()
            raise InvalidInputError(
                f"{str(path)!r} is not a readable SQLite database: {error}"
            ) from error
        except BaseException:
            connection.close()
            raise
        return cls(connection, chosen, text_ids)

    async def count_after(self, after: int) -> int:
        sql = f"SELECT count(*) FROM {self._from} WHERE rowid > ?"
        rows = await self._fetch(sql, (after,))
        return int(rows[0][0])

    async def read_after(self, after: int, limit: int) -> list[SourceRecord]:
        sql = (
            "SELECT rowid, originator_id, originator_version, topic, state"
            f" FROM {self._from} WHERE rowid > ? ORDER BY rowid LIMIT ?"
        )
        rows = await self._fetch(sql, (after, limit))
        return [
            SourceRecord(int(row[0]), self._originator(row[1]), int(row[2]), row[3], bytes(row[4]))
            for row in rows
        ]

    def _originator(self, value: object) -> UUID | str:
        text = str(value)
        if self._text_ids:
            return text
        try:
            parsed = UUID(text)
        except ValueError:
            return text
        return parsed if text in (parsed.hex, str(parsed)) else text  # eventsourcing writes hex

    async def _fetch(self, sql: str, parameters: tuple[int, ...]) -> list[Any]:
        """Run one query on the connection's thread. A cancelled call interrupts the query
        and still waits for its thread to leave the connection before it lets go of the
        lock: ``close`` must never close the connection under a running query (``sqlite3``
        frees what the query still uses, and the process crashes)."""
        async with self._lock:
            query = asyncio.ensure_future(
                asyncio.to_thread(lambda: self._connection.execute(sql, parameters).fetchall())
            )
            cancelled: asyncio.CancelledError | None = None
            while not query.done():
                try:
                    await asyncio.wait({query})
                except asyncio.CancelledError as error:
                    cancelled = error
                    self._connection.interrupt()
            if cancelled is not None:
                query.exception()  # retrieved: an interrupted query's error is expected
                raise cancelled
            try:
                return query.result()
            except sqlite3.Error as error:
                raise EventStoreUnavailable(f"reading {self.table}: {error}") from error

    async def close(self) -> None:
        async with self._lock:
            self._connection.close()


def _tables(connection: sqlite3.Connection) -> list[str]:
    rows = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
    ).fetchall()
    return [str(row[0]) for row in rows]


def _is_application_table(connection: sqlite3.Connection, name: str) -> bool:
    """Whether ``name`` has eventsourcing's columns and rowids (an aggregate recorder's
    table, snapshots say, is ``WITHOUT ROWID``: it has no notification ids)."""
    columns = {
        str(row[1]) for row in connection.execute(f"PRAGMA table_info({quote_identifier(name)})")
    }
    if not set(_COLUMNS) <= columns:
        return False
    try:
        connection.execute(f"SELECT rowid FROM {quote_identifier(name)} LIMIT 0")
    except sqlite3.OperationalError:
        return False
    return True
