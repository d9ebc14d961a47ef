"""``ArchivedReads``: an event store whose stream reads include archived versions."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from forze.contracts import EventStore, ObjectStorage, RecordedEvent
from forze.domain.errors import NotFoundError, SerializationError, StreamArchived
from forze.execution import EventStoreView
from forze_eventstore._archive_kit import ArchivedSegment, StreamArchives
from forze_eventstore._export_format import Chunk, ExportCorrupted, decode_chunk
from forze_eventstore.limits import check_max_bytes, within_budget
from forze_eventstore.rules import check_read_stream, dump_json

__all__ = ["ArchiveCorrupted", "ArchivedReads", "reading_archive", "without_archive"]


class ArchiveCorrupted(SerializationError):
    """An archived segment's object is missing or is not what was written (its size,
    checksum, stream or versions differ): the stream cannot be read whole."""


def reading_archive(store: StreamArchives, archive: ObjectStorage | None) -> EventStore:
    """``store``, reading archived streams whole from ``archive`` (when given): what the
    runtime modules' ``archive=`` option provides as the event store."""
    return store if archive is None else ArchivedReads(store, archive)


def without_archive(store: EventStore) -> EventStore:
    """The store under an ``ArchivedReads`` (``store`` itself otherwise): for wiring that
    needs the concrete store (inline projections share its transactions)."""
    return store.archives if isinstance(store, ArchivedReads) else store


@dataclass
class _SegmentCache:
    """The decoded events of the segments read last, by key (most recent last)."""

    size: int
    entries: OrderedDict[str, list[RecordedEvent]] = field(default_factory=OrderedDict)

    def get(self, key: str) -> list[RecordedEvent] | None:
        events = self.entries.get(key)
        if events is not None:
            self.entries.move_to_end(key)
        return events

    def put(self, key: str, events: list[RecordedEvent]) -> None:
        self.entries[key] = events
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)


class ArchivedReads(EventStoreView):
    """The event store ``store`` whose ``read_stream`` returns archived versions too, read
    from ``storage`` (each segment checked against its checksum; the last ``cache``
    segments read are kept decoded). Everything else passes through to ``store``, the
    archiving port's methods too, so ``archive_cold_streams`` takes it as well."""

    def __init__(self, store: StreamArchives, storage: ObjectStorage, *, cache: int = 64) -> None:
        super().__init__(store)
        self.archives = store
        """The store itself (for ``archive_cold_streams``)."""
        self.storage = storage
        self._cache = _SegmentCache(cache)

    async def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        limit: int | None = None,
        backwards: bool = False,
        max_bytes: int | None = None,
    ) -> Sequence[RecordedEvent]:
        """See ``EventStore.read_stream``: the whole stream, archived versions included."""
        try:
            return await self.archives.read_stream(
                stream_id,
                from_version=from_version,
                limit=limit,
                backwards=backwards,
                max_bytes=max_bytes,
            )
        except StreamArchived:  # the read reached archived versions
            missing = StreamArchived(stream_id, from_version or 1)
        for _ in range(3):  # an archiver may move more of the stream while it is read
            try:
                return await self._read_with_archive(
                    stream_id, from_version, limit, backwards, max_bytes
                )
            except StreamArchived as moved:
                missing = moved
        raise missing

    async def list_streams(
        self, *, category: str | None = None, limit: int | None = None
    ) -> list[tuple[str, int]]:
        """See ``StreamArchives.list_streams``."""
        return await self.archives.list_streams(category=category, limit=limit)

    async def archive_segment(self, segment: ArchivedSegment) -> None:
        """See ``StreamArchives.archive_segment``."""
        await self.archives.archive_segment(segment)

    async def archived_segments(self, stream_id: str) -> list[ArchivedSegment]:
        """See ``StreamArchives.archived_segments``."""
        return await self.archives.archived_segments(stream_id)

    async def _read_with_archive(
        self,
        stream_id: str,
        from_version: int | None,
        limit: int | None,
        backwards: bool,
        max_bytes: int | None,
    ) -> Sequence[RecordedEvent]:
        check_read_stream(stream_id, from_version, limit)
        check_max_bytes(max_bytes)
        segments = await self.archives.archived_segments(stream_id)
        through = segments[-1].last_version if segments else 0
        head = await self.archives.stream_version(stream_id)
        if backwards:
            high = head if from_version is None else min(from_version, head)
            low = 1 if limit is None else max(1, high - limit + 1)
        else:
            low = 1 if from_version is None else from_version
            high = head if limit is None else min(head, low + limit - 1)
        found: list[RecordedEvent] = []
        for segment in segments:
            if segment.last_version >= low and segment.first_version <= high:
                found.extend(
                    e for e in await self._segment_events(segment) if low <= e.version <= high
                )
        if high > through:
            start = max(low, through + 1)
            found.extend(
                await self.archives.read_stream(
                    stream_id, from_version=start, limit=high - start + 1
                )
            )
        if backwards:
            found.reverse()
        sizes = (
            len(dump_json(e.data, what="data")) + len(dump_json(e.metadata, what="metadata"))
            for e in found
        )
        return within_budget(found, sizes, max_bytes)

    async def _segment_events(self, segment: ArchivedSegment) -> list[RecordedEvent]:
        cached = self._cache.get(segment.key)
        if cached is not None:
            return cached
        where = f"archived segment {segment.key!r} of stream {segment.stream_id!r}"
        try:
            data = await self.storage.get(segment.key)
        except NotFoundError:
            raise ArchiveCorrupted(f"{where}: the object is missing") from None
        chunk = Chunk(
            segment.key,
            segment.first_position,
            segment.last_position,
            segment.events,
            segment.sha256,
            segment.bytes,
        )
        try:
            events = decode_chunk(data, chunk, where)
        except ExportCorrupted as error:
            raise ArchiveCorrupted(str(error)) from None
        versions = [e.version for e in events]
        expected = list(range(segment.first_version, segment.last_version + 1))
        if versions != expected or any(e.stream_id != segment.stream_id for e in events):
            raise ArchiveCorrupted(f"{where}: its events are not the segment's versions")
        self._cache.put(segment.key, events)
        return events
