"""Archived segments of ``PostgresEventStore`` (see ``forze_eventstore._archive_kit``).

Recording a segment is one transaction: it takes the stream's exclusive advisory lock, the
one every append of the stream holds while it reads the stream's version and inserts (see
``forze_postgres._event_sql``), so no append and no other archiver of the stream runs
meanwhile; each later statement (READ COMMITTED) sees what the stream's previous holder
committed. It then checks that the segment follows the stream's last one and leaves its last
event, deletes its events and inserts its row. The transaction adds no events, so it does
not take the feed lock and never holds feed readers back. The stream's last event stays, so
its version, the remembered versions of ``KnownVersions`` and the overtaking check of
appends are unchanged.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from forze.domain.errors import ConcurrencyError
from forze_eventstore._archive_kit import ArchivedSegment, not_next_segment
from forze_postgres._driver import Connection, asyncpg, savepoint
from forze_postgres._event_sql import STREAM_LOCK_CLASS
from forze_postgres.database import PostgresDatabase
from forze_postgres.errors import translated

__all__ = ["Archives"]

_COLUMNS = (
    "stream_id, first_version, last_version, first_position, last_position, object_key,"
    " sha256, bytes, archived_at"
)
"""The columns of a segment row, in :class:`ArchivedSegment`'s order."""


class Archives:
    """The archived segments of one event store: ``db``'s schema and tenant, ``lock`` the
    schema's feed lock key (the streams' locks derive from it)."""

    def __init__(self, db: PostgresDatabase, lock: int) -> None:
        self.db = db
        self._lock = lock
        self._tenant: tuple[str, ...] = () if db.tenant is None else (db.tenant,)
        events = db.table("forze_events")
        segments = db.table("forze_archived_segments")

        def tenant(parameter: int) -> str:
            """``tenant = $parameter AND `` in the tenant-column layout, else nothing."""
            return f"tenant = ${parameter} AND " if db.tenant is not None else ""

        stream_key = (
            "hashtext($3::text || '/' || $2::text)" if db.tenant is not None else "hashtext($2)"
        )
        # $1 the feed lock key, $2 the stream, [$3 the tenant]: as the append functions take it
        self._lock_stream = (
            f"SELECT pg_advisory_xact_lock({STREAM_LOCK_CLASS.format(key='$1')}, {stream_key})"
        )
        # $1 the stream, [$2 the tenant]: archived through, and the stream's version
        self._state = (
            f"SELECT (SELECT max(last_version) FROM {segments}"
            f" WHERE {tenant(2)}stream_id = $1),"
            f" (SELECT version FROM {events} WHERE {tenant(2)}stream_id = $1"
            " ORDER BY version DESC LIMIT 1)"
        )
        # $1 the stream, $2 and $3 the versions, [$4 the tenant]
        self._delete = (
            f"WITH gone AS (DELETE FROM {events} WHERE {tenant(4)}stream_id = $1"
            " AND version BETWEEN $2 AND $3 RETURNING 1) SELECT count(*) FROM gone"
        )
        # $1 to $9 the columns, [$10 the tenant]
        tenant_into, tenant_value = (", tenant", ", $10") if db.tenant is not None else ("", "")
        self._insert = (
            f"INSERT INTO {segments} ({_COLUMNS}{tenant_into})"
            f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9{tenant_value})"
        )
        self._list = (
            f"SELECT {_COLUMNS} FROM {segments} WHERE {tenant(2)}stream_id = $1"
            " ORDER BY first_version"
        )

    async def archive(self, segment: ArchivedSegment) -> None:
        """Record ``segment`` and delete its events, in one transaction (a savepoint of the
        calling task's transaction, when it has one); checked by ``check_segment`` already.
        Like an append, sent once more when the connection was lost outside a transaction
        (a retry of one that had committed then meets ``ConcurrencyError``)."""

        async def attempt() -> None:
            pinned = self.db.in_transaction()
            async with self.db.transaction(appends=False) as connection:
                if pinned:
                    async with savepoint(connection):
                        await self._archive(connection, segment)
                else:
                    await self._archive(connection, segment)

        await self.db.retrying(attempt)

    async def _archive(self, connection: Connection, segment: ArchivedSegment) -> None:
        stream_id = segment.stream_id
        with translated(f"archive versions of {stream_id!r}"):
            await connection.execute(self._lock_stream, self._lock, stream_id, *self._tenant)
            row = await connection.fetchrow(self._state, stream_id, *self._tenant)
            assert row is not None  # two scalar subqueries: always one row
            through, version = int(row[0] or 0), int(row[1] or 0)
            refused = not_next_segment(segment, through, version)
            if refused is not None:
                raise refused
            deleted = await connection.fetchval(
                self._delete,
                stream_id,
                segment.first_version,
                segment.last_version,
                *self._tenant,
            )
            if deleted != segment.events:  # rolled back: only a foreign delete can do this
                wanted = f"versions {segment.first_version}..{segment.last_version} in the store"
                raise ConcurrencyError(stream_id, wanted, version)
            try:
                await connection.execute(
                    self._insert, *segment.row(), _aware(segment.archived_at), *self._tenant
                )
            except asyncpg.UniqueViolationError:
                raise ConcurrencyError(
                    stream_id, f"archived through {segment.first_version - 1}", through
                ) from None

    async def segments(self, stream_id: str) -> list[ArchivedSegment]:
        """The stream's segments, by version (``archived_at`` in UTC)."""

        async def read() -> list[Any]:
            async with self.db.connection() as connection:
                with translated(f"archived segments of {stream_id!r}"):
                    found: list[Any] = await connection.fetch(self._list, stream_id, *self._tenant)
                    return found

        rows = await self.db.retrying(read)
        return [
            ArchivedSegment(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8].astimezone(UTC))
            for r in rows
        ]


def _aware(moment: datetime) -> datetime:
    """``moment``, a naive one taken as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
