"""The reading half of ``MongoEventStore``: stream pages, feed pages, counts."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from forze.contracts import RecordedEvent
from forze_eventstore.adapter_kit import (
    ArchivedSegment,
    CutPage,
    check_max_bytes,
    check_read_all,
    check_read_stream,
    refuse_archived_gap,
)
from forze_mongo._archive import Segments
from forze_mongo._event_docs import recorded
from forze_mongo._ledger import Head, Ledger
from forze_mongo.database import Document, MongoDatabase

__all__ = ["EventReads"]


class EventReads:
    """Reads that show only what the ledger's head says is visible (see ``_ledger``)."""

    db: MongoDatabase
    _events: AsyncCollection[Document]
    _ledger: Ledger
    _segments: Segments

    async def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        limit: int | None = None,
        backwards: bool = False,
        max_bytes: int | None = None,
    ) -> Sequence[RecordedEvent]:
        """See ``EventStore.read_stream``; events of appends not finished yet are hidden,
        and a read that reaches archived versions raises ``StreamArchived``."""
        check_read_stream(stream_id, from_version, limit)
        check_max_bytes(max_bytes)
        if limit == 0:  # MongoDB reads a limit of 0 as "no limit"
            return []
        with self.db.operation(f"read stream {stream_id[:80]!r}"):
            head = await self._ledger.current()
            documents = await self._stream_page(head, stream_id, from_version, limit, backwards)
            page = _within(documents, max_bytes, more=False)
        await refuse_archived_gap(
            self,
            stream_id,
            page,
            from_version=from_version,
            limit=limit,
            backwards=backwards,
        )
        return page

    async def _stream_page(
        self,
        head: Head,
        stream_id: str,
        from_version: int | None,
        limit: int | None,
        backwards: bool,
    ) -> list[Document]:
        while True:
            query: dict[str, Any] = {"stream_id": stream_id}
            if from_version is not None:
                query["version"] = {"$lte" if backwards else "$gte": from_version}
            cursor = self._events.find(query).sort("version", DESCENDING if backwards else 1)
            if limit is not None:
                cursor = cursor.limit(limit)
            documents = await cursor.to_list()
            hidden = [
                n for n, doc in enumerate(documents) if not head.shows(doc["commit"], doc["_id"])
            ]
            if not hidden:
                return _unbroken(documents, backwards)
            if not backwards:  # a stream's unfinished events are its last
                return _unbroken(documents[: hidden[0]], backwards)
            # backwards: the newest events are hidden; read again below them
            from_version = min(int(documents[n]["version"]) for n in hidden) - 1
            if from_version < 1:
                return []

    async def archived_segments(self, stream_id: str) -> list[ArchivedSegment]:
        """See ``StreamArchives.archived_segments``."""
        check_read_stream(stream_id, None, None)
        with self.db.operation(f"read the archived segments of {stream_id[:80]!r}"):
            return await self._segments.of(stream_id)

    async def stream_version(self, stream_id: str) -> int:
        """See ``EventStore.stream_version``: the last version a reader can see."""
        check_read_stream(stream_id, None, None)
        with self.db.operation(f"read the version of {stream_id[:80]!r}"):
            return await self._visible_version(stream_id)

    async def _visible_version(self, stream_id: str) -> int:
        """The stream's last visible version, read within an operation (its last event is
        never archived)."""
        head = await self._ledger.current()
        top = await self._stream_page(head, stream_id, None, 1, True)
        return int(top[0]["version"]) if top else 0

    async def read_all(
        self,
        *,
        after: int = 0,
        limit: int | None = None,
        event_types: Collection[str] | None = None,
        categories: Collection[str] | None = None,
        max_bytes: int | None = None,
    ) -> Sequence[RecordedEvent]:
        """See ``EventStore.read_all``: events up to the ledger's watermark, in order."""
        check_read_all(after, limit, event_types, categories)
        check_max_bytes(max_bytes)
        if limit == 0:  # MongoDB reads a limit of 0 as "no limit"
            return []
        with self.db.operation("read the feed"):
            head = await self._ledger.current()
            if head.watermark <= after:
                return []
            query = self._feed_query(head, after)
            if event_types is not None:
                query["event_type"] = {"$in": list(event_types)}
            if categories is not None:
                query["category"] = {"$in": list(categories)}
            if max_bytes is not None:
                return await _budgeted(self._events, query, limit, max_bytes)
            cursor = self._events.find(query).sort("_id", ASCENDING)
            if limit is not None:
                cursor = cursor.limit(limit)
            return [recorded(doc) for doc in await cursor.to_list()]

    @staticmethod
    def _feed_query(head: Head, after: int) -> dict[str, Any]:
        query: dict[str, Any] = {"_id": {"$gt": after, "$lte": head.watermark}}
        if head.void:
            query["commit"] = {"$nin": list(head.void)}
        return query

    async def count_events(self, *, after: int = 0) -> int:
        """See ``EventStore.count_events``: visible events after ``after``."""
        check_read_all(after, None, None, None)
        with self.db.operation("count events"):
            head = await self._ledger.current()
            if head.watermark <= after:
                return 0
            return await self._events.count_documents(self._feed_query(head, after))

    async def list_streams(
        self, *, category: str | None = None, limit: int | None = None
    ) -> list[tuple[str, int]]:
        """Every stream id with its last visible version, sorted by id (optionally of one
        category, at most ``limit``), for inspection tools."""
        if limit == 0:
            return []
        with self.db.operation("list the streams"):
            head = await self._ledger.current()
            # a range on _id written as $expr: the emulator misreads {_id: {$lt: n}} in a
            # pipeline (docs/mongo.md)
            query: dict[str, Any] = {"$expr": {"$lt": ["$_id", head.next]}}
            hidden = [*head.open, *head.void]
            if hidden:
                query["commit"] = {"$nin": hidden}
            if category is not None:
                query["category"] = category
            pipeline: list[dict[str, Any]] = [
                {"$match": query},
                {"$group": {"_id": "$stream_id", "version": {"$max": "$version"}}},
                {"$sort": {"_id": 1}},
            ]
            if limit is not None:
                pipeline.append({"$limit": limit})
            cursor = await self._events.aggregate(pipeline)
            rows = await cursor.to_list()
        return [(str(row["_id"]), int(row["version"])) for row in rows]

    async def head_position(self) -> int:
        """See ``EventStore.head_position``: the last visible event's position."""
        with self.db.operation("read the head position"):
            head = await self._ledger.current()
            if head.watermark < 1:
                return 0
            last = await self._events.find_one(
                self._feed_query(head, 0), {"_id": 1}, sort=[("_id", DESCENDING)]
            )
        return 0 if last is None else int(last["_id"])


def _unbroken(documents: list[Document], backwards: bool) -> list[Document]:
    """A stream page's run of consecutive versions at its newest end. A stream's versions
    have no holes, except where an archive was interrupted before it deleted all of its
    segment's events (``forze_mongo._archive``): what is left below such a hole is archived,
    and the page then starts past what the read asked for, which ``refuse_archived_gap``
    reports. Free when there is no hole: it only looks at the page."""
    versions = [int(document["version"]) for document in documents]
    if backwards:  # newest first: keep what comes before the first hole
        for n in range(1, len(versions)):
            if versions[n] != versions[n - 1] - 1:
                return documents[:n]
        return documents
    for n in range(len(versions) - 1, 0, -1):  # oldest first: keep what follows the last
        if versions[n - 1] != versions[n] - 1:
            return documents[n:]
    return documents


def _within(
    documents: list[Document], max_bytes: int | None, *, more: bool
) -> Sequence[RecordedEvent]:
    """The events of ``documents`` up to the one that brings the page to ``max_bytes``."""
    if max_bytes is None:
        return [recorded(doc) for doc in documents]
    total = 0
    for count, doc in enumerate(documents, 1):
        total += int(doc["bytes"])
        if total >= max_bytes:
            page = [recorded(d) for d in documents[:count]]
            return CutPage(page) if count < len(documents) or more else page
    return [recorded(doc) for doc in documents]


async def _budgeted(
    events: Any, query: dict[str, Any], limit: int | None, max_bytes: int
) -> Sequence[RecordedEvent]:
    """A feed page of at most ``limit`` events that stops at the one bringing it to
    ``max_bytes``. The sizes are read first (small documents), then just the events that
    fit: a page of large events never holds more than its budget in memory."""
    last = None
    taken = total = 0
    cut = False
    sizes = events.find(query, {"bytes": 1}).sort("_id", ASCENDING)
    if limit is not None:
        sizes = sizes.limit(limit + 1)  # one more tells whether the page was cut
    async with sizes:
        async for doc in sizes:
            if limit is not None and taken == limit:
                break
            if total >= max_bytes:
                cut = True
                break
            last = doc["_id"]
            taken += 1
            total += int(doc["bytes"])
    if last is None:
        return []
    page = dict(query, _id={"$gt": query["_id"]["$gt"], "$lte": last})
    found = [recorded(doc) for doc in await events.find(page).sort("_id", ASCENDING).to_list()]
    return CutPage(found) if cut else found
