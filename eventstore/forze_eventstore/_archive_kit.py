"""What a store implements to have its cold streams archived (``forze_eventstore.archiving``).

A stream's archived events leave the store; a *segment* row (:class:`ArchivedSegment`) stays
in their place and names the object that holds them. Segments of a stream are consecutive
from version 1, and the stream's last event never leaves: it keeps the stream's version for
appends and concurrency checks. A store read directly raises ``StreamArchived`` when a read
of a stream reaches archived versions (:func:`refuse_archived_gap`), so no caller ever gets a
stream with a hole in it; ``ArchivedReads`` catches that and reads the archive.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from forze.contracts import CutPage, EventStore, RecordedEvent
from forze.domain.errors import ConcurrencyError, InvalidInputError, StreamArchived
from forze_eventstore.rules import MAX_VERSION, check_read_stream

__all__ = [
    "ArchivedSegment",
    "StreamArchives",
    "StreamVersions",
    "check_segment",
    "not_next_segment",
    "refuse_archived_gap",
]

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class ArchivedSegment:
    """Versions ``first_version``..``last_version`` of ``stream_id``, moved to the object
    ``key``: gzip-compressed JSON lines (``forze_eventstore``'s export format) of ``bytes``
    bytes with SHA-256 ``sha256``, whose events had positions ``first_position`` to
    ``last_position`` in the store. ``archived_at`` is when the store let them go."""

    stream_id: str
    first_version: int
    last_version: int
    first_position: int
    last_position: int
    key: str
    sha256: str
    bytes: int
    archived_at: datetime

    @property
    def events(self) -> int:
        """How many events the segment holds."""
        return self.last_version - self.first_version + 1

    def row(self) -> tuple[str, int, int, int, int, str, str, int]:
        """The fields a store keeps as they are, in order (``archived_at``, which each store
        encodes its own way, aside)."""
        return (
            self.stream_id,
            self.first_version,
            self.last_version,
            self.first_position,
            self.last_position,
            self.key,
            self.sha256,
            self.bytes,
        )


class StreamArchives(EventStore, Protocol):
    """An event store that can let archived events go and remember where they went.

    ``forze_eventstore.testing.ArchiveContract`` checks every point below.
    """

    async def list_streams(
        self, *, category: str | None = None, limit: int | None = None
    ) -> list[tuple[str, int]]:
        """Every stream id with its version, sorted by id (optionally of one category, at
        most ``limit``)."""
        ...

    async def archive_segment(self, segment: ArchivedSegment) -> None:
        """In one transaction: delete versions ``first_version``..``last_version`` of the
        segment's stream and record the segment.

        ``InvalidInputError`` (:func:`check_segment`) for a malformed segment or one that
        would take the stream's last event; ``ConcurrencyError`` when the segment does not
        follow the stream's last one (:func:`not_next_segment`) or some of its versions are
        not in the store: another archiver was first. Either way nothing changes.
        """
        ...

    async def archived_segments(self, stream_id: str) -> list[ArchivedSegment]:
        """The stream's segments, by version (empty when nothing of it is archived)."""
        ...


def check_segment(segment: ArchivedSegment) -> None:
    """Refuse, with ``InvalidInputError``, a segment no store can record: a bad stream id, a
    version range that is empty or out of range, positions out of order, a key that is
    empty, or a checksum that is not a SHA-256 in lowercase hex."""
    check_read_stream(segment.stream_id, segment.first_version, None)
    if not 1 <= segment.first_version <= segment.last_version <= MAX_VERSION:
        raise InvalidInputError(
            f"an archived segment's versions must satisfy 1 <= first <= last <= {MAX_VERSION},"
            f" not {segment.first_version}..{segment.last_version}"
        )
    if not 1 <= segment.first_position <= segment.last_position:
        raise InvalidInputError(
            "an archived segment's positions must satisfy 1 <= first <= last, not"
            f" {segment.first_position}..{segment.last_position}"
        )
    if not segment.key or "\x00" in segment.key or len(segment.key) > 1024:
        raise InvalidInputError("an archived segment needs an object key (1 to 1024 chars)")
    if not _SHA256.fullmatch(segment.sha256) or segment.bytes < 1:
        raise InvalidInputError("an archived segment needs the SHA-256 and size of its object")


def not_next_segment(
    segment: ArchivedSegment, archived_through: int, version: int
) -> InvalidInputError | ConcurrencyError | None:
    """Why ``segment`` cannot be recorded on a stream archived through ``archived_through``
    (0 when none of it is) and at ``version`` now, or ``None`` when it can: it must start
    right after the last segment (else ``ConcurrencyError``), name versions the stream has
    (else ``ConcurrencyError``) and leave its last event in the store (else
    ``InvalidInputError``)."""
    if segment.first_version != archived_through + 1:
        return ConcurrencyError(
            segment.stream_id, f"archived through {segment.first_version - 1}", archived_through
        )
    if segment.last_version > version:
        return ConcurrencyError(segment.stream_id, f"at least {segment.last_version}", version)
    if segment.last_version == version:
        return InvalidInputError(
            f"stream {segment.stream_id!r} is at version {version}: an archived segment must"
            f" end before its last event, not at {segment.last_version}"
        )
    return None


class StreamVersions(Protocol):
    """What :func:`refuse_archived_gap` asks of a store: its streams' versions."""

    async def stream_version(self, stream_id: str) -> int:
        """The version of the stream's last event (0 when it does not exist)."""
        ...


async def refuse_archived_gap(
    store: StreamVersions,
    stream_id: str,
    page: Sequence[RecordedEvent],
    *,
    from_version: int | None,
    limit: int | None,
    backwards: bool,
) -> None:
    """Raise ``StreamArchived`` when ``page``, a ``read_stream`` answer, lacks versions the
    read asked for: a stream's versions have no holes, so a missing one was archived.

    Free for a store with no archive: it looks at the page only, except for a backwards read
    from an explicit version that found nothing (then it asks the stream's version).
    """
    if limit == 0:
        return
    if not backwards:
        first = 1 if from_version is None else from_version
        if page and page[0].version > first:
            raise StreamArchived(stream_id, first)
        return
    if page:
        full = limit is not None and len(page) >= limit
        if not full and not isinstance(page, CutPage) and page[-1].version > 1:
            raise StreamArchived(stream_id, page[-1].version - 1)
        return
    if from_version is not None and await store.stream_version(stream_id) >= from_version >= 1:
        raise StreamArchived(stream_id, from_version)
