"""Archived segments of ``SQLiteEventStore`` (see ``forze_eventstore._archive_kit``).

A segment is a row of ``forze_archived_segments`` recorded in the write transaction that
deletes its events: SQLite runs one write transaction at a time (``BEGIN IMMEDIATE``, across
processes too), so an archiver's checks and writes never interleave with an append or another
archiver. Positions of archived events are never reused: the stream's last event stays, and
so does the event with the highest position (the last appended, the last of its stream).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from forze.domain.errors import ConcurrencyError
from forze_eventstore._archive_kit import ArchivedSegment, not_next_segment

__all__ = [
    "SEGMENTS_OF",
    "SEGMENT_COLUMNS",
    "archive_now",
    "create_segments",
    "decode_segments",
]

SEGMENT_COLUMNS = (
    "stream_id, first_version, last_version, first_position, last_position, object_key,"
    " sha256, bytes, archived_at"
)
"""The columns of a segment row, in :class:`ArchivedSegment`'s order."""

SEGMENTS_OF = (
    f"SELECT {SEGMENT_COLUMNS} FROM forze_archived_segments WHERE stream_id = ?"
    " ORDER BY first_version"
)
"""A stream's segment rows, by version (parameter: the stream id)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def create_segments(connection: sqlite3.Connection) -> None:
    """Schema step 2 of the events component: the table of archived segments."""
    connection.execute(
        "CREATE TABLE forze_archived_segments ("
        " stream_id TEXT NOT NULL,"
        " first_version INTEGER NOT NULL,"
        " last_version INTEGER NOT NULL,"
        " first_position INTEGER NOT NULL,"
        " last_position INTEGER NOT NULL,"
        " object_key TEXT NOT NULL,"
        " sha256 TEXT NOT NULL,"
        " bytes INTEGER NOT NULL,"
        " archived_at INTEGER NOT NULL,"
        " PRIMARY KEY (stream_id, first_version))"
    )


def _microseconds(moment: datetime) -> int:
    """``moment`` as microseconds since the epoch, exactly (a naive one is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def archive_now(segment: ArchivedSegment, connection: sqlite3.Connection) -> None:
    """Inside the caller's write transaction: refuse ``segment`` unless it follows the
    stream's last segment and leaves its last event, then delete its events and record it.

    A savepoint of its own undoes its writes when it raises, so nothing changes even when
    it runs inside a larger transaction.
    """
    stream_id = segment.stream_id
    through, version = connection.execute(
        "SELECT (SELECT MAX(last_version) FROM forze_archived_segments WHERE stream_id = ?),"
        " (SELECT MAX(version) FROM forze_events WHERE stream_id = ?)",
        (stream_id, stream_id),
    ).fetchone()
    refused = not_next_segment(segment, through or 0, version or 0)
    if refused is not None:
        raise refused
    connection.execute("SAVEPOINT forze_archive")
    try:
        deleted = connection.execute(
            "DELETE FROM forze_events WHERE stream_id = ? AND version BETWEEN ? AND ?",
            (stream_id, segment.first_version, segment.last_version),
        ).rowcount
        if deleted != segment.events:
            # only a damaged file can lack versions the checks above found: refuse, keep all
            wanted = f"versions {segment.first_version}..{segment.last_version} in the store"
            raise ConcurrencyError(stream_id, wanted, version)
        try:
            connection.execute(
                f"INSERT INTO forze_archived_segments ({SEGMENT_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*segment.row(), _microseconds(segment.archived_at)),
            )
        except sqlite3.IntegrityError:
            raise ConcurrencyError(
                stream_id, f"archived through {segment.first_version - 1}", version
            ) from None
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK TO forze_archive")
            connection.execute("RELEASE forze_archive")
        raise
    connection.execute("RELEASE forze_archive")


def decode_segments(rows: list[Any]) -> list[ArchivedSegment]:
    """Rows of :data:`SEGMENT_COLUMNS` as segments (``archived_at`` in UTC)."""
    return [
        ArchivedSegment(
            str(stream_id),
            int(first_version),
            int(last_version),
            int(first_position),
            int(last_position),
            str(key),
            str(sha256),
            int(size),
            _EPOCH + int(archived_at) * _MICROSECOND,
        )
        for (
            stream_id,
            first_version,
            last_version,
            first_position,
            last_position,
            key,
            sha256,
            size,
            archived_at,
        ) in rows
    ]
