"""Archived segments of a ``MongoEventStore``: ``archive_segment`` without a transaction.

One document per segment in the ``archived_segments`` collection::

    {stream_id, first_version, last_version, first_position, last_position, key, sha256,
     bytes, archived_at}

with a unique index on ``(stream_id, first_version)`` (created by ``migrate()``). Recording
a segment takes three steps, like an append (``forze_mongo._ledger``), none of them a
multi-document transaction: those need a replica set, the store works on a standalone
server too, and the test server's transactions isolate nothing (docs/mongo.md).

1. **Check**, writing nothing: the end of the stream's last segment and its last visible
   version must admit the segment (``not_next_segment``), and every version of it must be
   in the store (else ``ConcurrencyError``).
2. **Record** the segment: the commit point. The unique index admits one segment per first
   version of a stream, and a segment is recorded only after the one that ends just before
   it (never removed), so a stream's segments form one chain from version 1: of two
   archivers racing on a stream, both name the same first version and the second gets a
   duplicate-key error, reported as ``ConcurrencyError`` with nothing changed.
3. **Delete** the stream's events up to the segment's last version: its own, checked in
   step 1, and any a predecessor interrupted in this step left behind (rolled forward).
   They are visible and final (below the stream's last visible event), so no append,
   reaper or reader of the ledger touches them.

An archive interrupted in step 3 (a crash, a timeout) has committed: it is not rolled back
(a half-done ``delete_many`` cannot be undone, and a segment removed after some of its
events were deleted would lose them). The events it left are copies of archived ones, each
right where it is: stream reads never show a hole in a stream (``_event_reads`` keeps a
page's unbroken run of versions at its newest end, and ``refuse_archived_gap`` reports the
rest), and the next segment of the stream deletes them.

The ledger names reservations by token and readers bound the feed by position, never by
the events present, so a position whose event was archived is skipped as the position of a
given-up reservation is: it never holds back the feed or a subscriber. ``count_events``
counts what remains, and ``head_position`` is unchanged (the feed's last event is its
stream's last, which is never archived).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from forze.domain.errors import ConcurrencyError, EventStoreUnavailable, InvalidInputError
from forze_eventstore.adapter_kit import ArchivedSegment, not_next_segment
from forze_mongo.database import Document

__all__ = ["COLLECTION", "Segments"]

COLLECTION = "archived_segments"
"""The segments' collection (after the database's prefix)."""

_KEY = ["stream_id", "first_version"]
"""The fields of the unique index that admits one segment per first version of a stream."""

_INT64 = 2**63 - 1
"""The largest integer BSON stores."""


class Segments:
    """The segments collection of one store and the steps of ``archive_segment``."""

    def __init__(
        self, segments: AsyncCollection[Document], events: AsyncCollection[Document]
    ) -> None:
        self._segments = segments
        self._events = events
        self._guarded = False
        """Whether the unique index was seen (a database not migrated since lacks it)."""

    async def create(self) -> None:
        """Create the collection's unique index unless it exists."""
        await self._segments.create_indexes(
            [IndexModel([(f, ASCENDING) for f in _KEY], name="stream_first", unique=True)]
        )

    async def of(self, stream_id: str) -> list[ArchivedSegment]:
        """The stream's segments, by first version."""
        found = self._segments.find({"stream_id": stream_id}).sort("first_version", ASCENDING)
        return [_segment_of(document) for document in await found.to_list()]

    async def record(
        self, segment: ArchivedSegment, version_of: Callable[[str], Awaitable[int]]
    ) -> None:
        """Steps 1 to 3 of the module docstring (``segment`` checked by ``check_segment``;
        ``version_of`` gives a stream's last visible version)."""
        stream = segment.stream_id
        if max(segment.last_position, segment.bytes) > _INT64:
            raise InvalidInputError("an archived segment's positions and size must fit 64 bits")
        await self._check_guard()
        through, version = await self._through(stream), await version_of(stream)
        refused = not_next_segment(segment, through, version)
        if refused is not None:
            raise refused
        versions = {"$gte": segment.first_version, "$lte": segment.last_version}
        present = await self._events.count_documents({"stream_id": stream, "version": versions})
        if present != segment.events:
            raise ConcurrencyError(
                stream,
                f"versions {segment.first_version}..{segment.last_version} in the store",
                version,
            )
        try:
            await self._segments.insert_one(_document_of(segment))
        except DuplicateKeyError:
            raise ConcurrencyError(
                stream, f"archived through {segment.first_version - 1}", await self._through(stream)
            ) from None
        await self._events.delete_many(
            {"stream_id": stream, "version": {"$lte": segment.last_version}}
        )

    async def _through(self, stream_id: str) -> int:
        """The last version of the stream's segments (0 when it has none)."""
        last = await self._segments.find_one(
            {"stream_id": stream_id}, {"last_version": 1}, sort=[("first_version", DESCENDING)]
        )
        return 0 if last is None else int(last["last_version"])

    async def _check_guard(self) -> None:
        """Refuse to record a segment without the unique index (its race guard)."""
        if self._guarded:
            return
        indexes = await self._segments.index_information()
        if not any(
            info.get("unique") and [field for field, _ in info["key"]] == _KEY
            for info in indexes.values()
        ):
            raise EventStoreUnavailable(
                "the event store's archived segments have no unique index: run"
                " MongoEventStore.migrate() (this database was migrated by an older forze)",
                transient=False,
            )
        self._guarded = True


def _document_of(segment: ArchivedSegment) -> Document:
    return {
        "stream_id": segment.stream_id,
        "first_version": segment.first_version,
        "last_version": segment.last_version,
        "first_position": segment.first_position,
        "last_position": segment.last_position,
        "key": segment.key,
        "sha256": segment.sha256,
        "bytes": segment.bytes,
        "archived_at": segment.archived_at,
    }


def _segment_of(document: Document) -> ArchivedSegment:
    at: datetime = document["archived_at"]  # naive from a client that is not tz_aware
    return ArchivedSegment(
        stream_id=document["stream_id"],
        first_version=int(document["first_version"]),
        last_version=int(document["last_version"]),
        first_position=int(document["first_position"]),
        last_position=int(document["last_position"]),
        key=document["key"],
        sha256=document["sha256"],
        bytes=int(document["bytes"]),
        archived_at=at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC),
    )
