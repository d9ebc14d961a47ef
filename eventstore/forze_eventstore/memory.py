"""``InMemoryEventStore``: a complete event store held in process memory."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Collection, Sequence
from datetime import UTC, datetime
from uuid import UUID

from forze.contracts import (
    AppendResult,
    ExpectedVersion,
    ExpectedVersionArg,
    NewEvent,
    RecordedEvent,
    category_of,
)
from forze_eventstore._archive_kit import (
    ArchivedSegment,
    check_segment,
    not_next_segment,
    refuse_archived_gap,
)
from forze_eventstore._json import raw_decode
from forze_eventstore.limits import (
    DEFAULT_LIMITS,
    EventLimits,
    check_encoded,
    check_max_bytes,
    within_budget,
)
from forze_eventstore.rules import (
    StoredId,
    check_expected_version,
    check_read_all,
    check_read_stream,
    dump_json,
    idempotent_result,
    validate_append,
    validate_batch,
)
from forze_eventstore.subscriptions import CommitSignal, subscribe_to

__all__ = ["InMemoryEventStore"]


class InMemoryEventStore:
    """An event store in memory, with every guarantee of the ``EventStore`` port.

    Meant for tests and prototypes: it passes the same contract suite as the durable stores.
    Data and metadata are copied through JSON on append, so they must be JSON-able and later
    changes to the caller's objects do not reach the store. Appends never await between the
    check and the write, so concurrent tasks of one event loop are serialised.

    ``limits`` (``DEFAULT_LIMITS`` when omitted) bounds what an append accepts and the bytes
    of a subscription's pages (see ``forze_eventstore.limits``).
    """

    def __init__(self, *, poll_interval: float = 0.5, limits: EventLimits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._sizes: list[int] = []
        """The bytes of each logged event's JSON texts, by log index (position - 1)."""
        self._log: list[RecordedEvent] = []
        self._streams: dict[str, list[RecordedEvent]] = {}
        self._ids: dict[UUID, RecordedEvent] = {}
        self._segments: dict[str, list[ArchivedSegment]] = {}
        self._gone: set[int] = set()
        """Positions of archived events: kept in ``_log``, hidden from every read."""
        self._signal = CommitSignal()
        self._poll_interval = poll_interval

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersionArg = ExpectedVersion.ANY,
    ) -> AppendResult:
        """See ``EventStore.append``."""
        stream_id, events, expected_version = validate_append(
            stream_id, events, expected_version, limits=self._limits
        )
        result = self._append_now(stream_id, events, expected_version)
        self._signal.notify()
        return result

    async def append_many(
        self, appends: Sequence[tuple[str, Sequence[NewEvent], ExpectedVersionArg]]
    ) -> list[AppendResult]:
        """See ``EventStore.append_many``: every part without awaiting, undone on an error."""
        batch = validate_batch(appends, limits=self._limits)
        mark = len(self._log)
        try:
            results = [self._append_now(*part) for part in batch]
        except BaseException:
            self._undo(mark)
            raise
        self._signal.notify()
        return results

    def _undo(self, mark: int) -> None:
        """Forget every event recorded at log index ``mark`` and after."""
        for event in reversed(self._log[mark:]):
            self._ids.pop(event.event_id, None)
            stream = self._streams[event.stream_id]
            stream.pop()
            if not stream:
                del self._streams[event.stream_id]
        del self._log[mark:]
        del self._sizes[mark:]

    def _append_now(
        self, stream_id: str, events: Sequence[NewEvent], expected_version: ExpectedVersionArg
    ) -> AppendResult:
        """One validated append, with no await between its checks and its writes."""
        limits = self._limits
        encoded = []
        for event in events:
            data = dump_json(event.data, what=f"data of {event.event_type!r}")
            metadata = dump_json(event.metadata, what=f"metadata of {event.event_type!r}")
            check_encoded(stream_id, event, data, metadata, limits)
            encoded.append((data, metadata))
        stream = self._streams.get(stream_id, [])
        actual = len(stream)
        stored = [self._stored_id(e.event_id) for e in events]
        original = idempotent_result(stream_id, events, expected_version, stored, actual)
        if original is not None:
            return original
        check_expected_version(stream_id, expected_version, actual)
        now = datetime.now(UTC)
        position = len(self._log)
        recorded = [
            RecordedEvent(
                event_id=event.event_id,
                event_type=event.event_type,
                data=raw_decode(data)[0],  # dump_json's text: one object, nothing around
                metadata=raw_decode(metadata)[0],
                stream_id=stream_id,
                version=actual + offset,
                position=position + offset,
                recorded_at=now,
            )
            for offset, (event, (data, metadata)) in enumerate(zip(events, encoded, strict=True), 1)
        ]
        self._log.extend(recorded)
        self._sizes.extend(len(data) + len(metadata) for data, metadata in encoded)
        self._streams.setdefault(stream_id, []).extend(recorded)
        self._ids.update((event.event_id, event) for event in recorded)
        last = recorded[-1]
        return AppendResult(stream_id, last.version, last.position)

    async def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        limit: int | None = None,
        backwards: bool = False,
        max_bytes: int | None = None,
    ) -> Sequence[RecordedEvent]:
        """See ``EventStore.read_stream``; ``max_bytes`` stops the page at that many bytes
        (see ``forze.contracts.CutPage``)."""
        check_read_stream(stream_id, from_version, limit)
        check_max_bytes(max_bytes)
        stream = self._streams.get(stream_id, [])
        through = self._archived_through(stream_id)
        kept = stream[through:] if through else stream  # kept[i] is version through + i + 1
        if backwards:
            top = len(stream) if from_version is None else min(from_version, len(stream))
            top = max(0, top - through)
            end = 0 if limit is None else max(0, top - limit)
            page = kept[end:top][::-1]
        else:
            first = 0 if from_version is None else max(0, from_version - 1 - through)
            last = None if limit is None else first + limit
            page = kept[first:last]
        if through:
            await refuse_archived_gap(
                self,
                stream_id,
                page,
                from_version=from_version,
                limit=limit,
                backwards=backwards,
            )
        return self._within(page, max_bytes)

    def _within(self, page: list[RecordedEvent], max_bytes: int | None) -> Sequence[RecordedEvent]:
        if max_bytes is None:
            return page
        sizes = self._sizes
        return within_budget(page, (sizes[e.position - 1] for e in page), max_bytes)

    async def read_all(
        self,
        *,
        after: int = 0,
        limit: int | None = None,
        event_types: Collection[str] | None = None,
        categories: Collection[str] | None = None,
        max_bytes: int | None = None,
    ) -> Sequence[RecordedEvent]:
        """See ``EventStore.read_all``; ``max_bytes`` stops the page at that many bytes
        (see ``forze.contracts.CutPage``)."""
        check_read_all(after, limit, event_types, categories)
        check_max_bytes(max_bytes)
        if event_types is None and categories is None and not self._gone:
            page = self._log[after : None if limit is None else after + limit]
            return self._within(page, max_bytes)
        types = None if event_types is None else frozenset(event_types)
        cats = None if categories is None else frozenset(categories)
        found: list[RecordedEvent] = []
        gone = self._gone
        for event in self._log[after:]:
            if limit is not None and len(found) >= limit:
                break
            if event.position in gone:
                continue
            if types is not None and event.event_type not in types:
                continue
            if cats is not None and category_of(event.stream_id) not in cats:
                continue
            found.append(event)
        return self._within(found, max_bytes)

    def subscribe(
        self,
        *,
        after: int = 0,
        event_types: Collection[str] | None = None,
        categories: Collection[str] | None = None,
    ) -> AsyncGenerator[RecordedEvent, None]:
        """See ``EventStore.subscribe``; woken in-process on every append."""
        check_read_all(after, None, event_types, categories)
        return subscribe_to(
            self,
            self._signal,
            after=after,
            event_types=event_types,
            categories=categories,
            poll_interval=self._poll_interval,
            page_bytes=self._limits.page_bytes,
        )

    async def stream_version(self, stream_id: str) -> int:
        """See ``EventStore.stream_version``."""
        check_read_stream(stream_id, None, None)
        return len(self._streams.get(stream_id, ()))

    async def count_events(self, *, after: int = 0) -> int:
        """See ``EventStore.count_events`` (positions are consecutive here)."""
        check_read_all(after, None, None, None)
        hidden = sum(1 for position in self._gone if position > after)
        return max(0, len(self._log) - after) - hidden

    async def head_position(self) -> int:
        """See ``EventStore.head_position``."""
        return len(self._log)

    async def list_streams(
        self, *, category: str | None = None, limit: int | None = None
    ) -> list[tuple[str, int]]:
        """Every stream id with its version, sorted by id (optionally of one category, at
        most ``limit``), for inspection tools and the archiver."""
        found = sorted(
            (stream_id, len(events))
            for stream_id, events in self._streams.items()
            if category is None or category_of(stream_id) == category
        )
        return found if limit is None else found[:limit]

    async def archive_segment(self, segment: ArchivedSegment) -> None:
        """See ``forze_eventstore.adapter_kit.StreamArchives.archive_segment``: the events
        stay in memory, hidden from every read."""
        check_segment(segment)
        stream = self._streams.get(segment.stream_id, [])
        refused = not_next_segment(segment, self._archived_through(segment.stream_id), len(stream))
        if refused is not None:
            raise refused
        for event in stream[segment.first_version - 1 : segment.last_version]:
            self._gone.add(event.position)
            self._ids.pop(event.event_id, None)
        self._segments.setdefault(segment.stream_id, []).append(segment)

    async def archived_segments(self, stream_id: str) -> list[ArchivedSegment]:
        """See ``forze_eventstore.adapter_kit.StreamArchives.archived_segments``."""
        check_read_stream(stream_id, None, None)
        return list(self._segments.get(stream_id, ()))

    def _archived_through(self, stream_id: str) -> int:
        segments = self._segments.get(stream_id)
        return segments[-1].last_version if segments else 0

    def _stored_id(self, event_id: UUID) -> StoredId | None:
        event = self._ids.get(event_id)
        if event is None:
            return None
        return StoredId(
            event.stream_id,
            event.version,
            event.position,
            event.event_type,
            event.data,
            event.metadata,
        )
