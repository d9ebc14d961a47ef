"""The event-store port."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Collection, Sequence
from typing import NamedTuple, Protocol

from forze.contracts.envelopes import (
    AppendResult,
    ExpectedVersion,
    ExpectedVersionArg,
    NewEvent,
    RecordedEvent,
)

__all__ = ["CutPage", "EventStore", "StreamAppend"]


class CutPage(list[RecordedEvent]):
    """A page a store stopped early at its ``max_bytes`` budget: it may hold fewer events
    than ``limit`` although more follow at once (read on after its last position)."""


class StreamAppend(NamedTuple):
    """One stream's part of ``EventStore.append_many``: what ``append`` would take.

    Plain ``(stream_id, events, expected_version)`` tuples work as well.
    """

    stream_id: str
    events: Sequence[NewEvent]
    expected_version: ExpectedVersionArg = ExpectedVersion.ANY


class EventStore(Protocol):
    """Append-only storage of event streams with one global order.

    Every adapter keeps these guarantees (``forze_eventstore.testing`` checks them all):

    1. **Atomic**: an append stores all of its events or none.
    2. **Optimistic concurrency**: ``expected_version`` is ``ANY``, ``NO_STREAM``,
       ``STREAM_EXISTS`` or an exact version; a mismatch raises ``ConcurrencyError`` naming the
       expected and actual versions, and nothing is written.
    3. **Idempotent**: re-appending events whose ids are already stored, at the same versions
       of the same stream, with the same types, data and metadata, returns the original
       result and stores nothing; an id reused anywhere else, or with a different type, data
       or metadata, raises ``DuplicateEventIdError`` (a client bug must not vanish). Data and
       metadata compare as JSON (key order aside, ``1`` equal to ``1.0``); the metadata keys
       ``occurred_at``, ``correlation_id``, ``traceparent`` and ``tracestate`` may differ,
       since a faithful retry builds them anew. Durable, not a cache: the comparison reads
       the stored event.
    4. **Gap-safe global order**: once a reader has seen position ``p``, no event with a
       position below ``p`` can appear later.
    5. **Catch-up then live**: ``subscribe`` replays from a position, then follows new events.
    6. **Translated errors**: bad input (empty stream id, an unknown expected-version form,
       non-JSON data) raises ``InvalidInputError`` before anything is written; backend
       failures raise ``EventStoreUnavailable``.
    7. **One input vocabulary**: every store refuses, with ``InvalidInputError`` and before
       anything is written, text PostgreSQL cannot keep: a NUL character or a surrogate code
       point in a stream id, an event type, a read filter, or a key or string of data or
       metadata. Positions go up to ``2**63 - 1`` and versions up to ``2**31 - 1``: an
       ``after`` (of ``read_all``, ``subscribe`` or ``count_events``), ``limit`` or
       ``max_bytes`` above ``2**63 - 1``, or a ``from_version`` or exact
       ``expected_version`` above ``2**31 - 1``, names a place no store can hold and raises
       ``InvalidInputError``; a version within range that the stream is not at raises
       ``ConcurrencyError``, and a ``from_version`` or ``after`` beyond the end reads empty.
    """

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersionArg = ExpectedVersion.ANY,
    ) -> AppendResult:
        """Append ``events`` to ``stream_id`` atomically after the concurrency check."""
        ...

    async def append_many(
        self, appends: Sequence[tuple[str, Sequence[NewEvent], ExpectedVersionArg]]
    ) -> list[AppendResult]:
        """Append to several streams at once (imports, migrations): all parts or none.

        Each part (a ``StreamAppend`` or a plain tuple) means what ``append`` means and gets
        ``append``'s result, in order: a part sees the parts before it (one stream may appear
        twice), positions follow the parts' order, a concurrency error or a reused event id in
        any part stores nothing, and re-appending a stored batch returns its original
        results. Bad input anywhere raises ``InvalidInputError`` before anything is written.
        """
        ...

    async def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        limit: int | None = None,
        backwards: bool = False,
        max_bytes: int | None = None,
    ) -> Sequence[RecordedEvent]:
        """Events of one stream starting at ``from_version`` (inclusive), at most ``limit``.

        Forwards, ``from_version`` defaults to 1 and versions go up; backwards, it defaults to
        the stream's last version and versions go down, so ``backwards=True, limit=1`` is the
        latest event. A stream that does not exist reads as empty. With ``max_bytes``, the
        page stops with the event whose data and metadata JSON bring it to ``max_bytes``
        (it always holds one event, if any follows): a :class:`CutPage` when that left events
        out.
        """
        ...

    async def read_all(
        self,
        *,
        after: int = 0,
        limit: int | None = None,
        event_types: Collection[str] | None = None,
        categories: Collection[str] | None = None,
        max_bytes: int | None = None,
    ) -> Sequence[RecordedEvent]:
        """Events of every stream with a position greater than ``after``, in global order
        (``max_bytes``: as for :meth:`read_stream`)."""
        ...

    def subscribe(
        self,
        *,
        after: int = 0,
        event_types: Collection[str] | None = None,
        categories: Collection[str] | None = None,
    ) -> AsyncGenerator[RecordedEvent, None]:
        """Catch up from ``after``, then follow new events as they are committed; never ends."""
        ...

    async def stream_version(self, stream_id: str) -> int:
        """The version of the stream's last event, or 0 when the stream does not exist."""
        ...

    async def count_events(self, *, after: int = 0) -> int:
        """How many events a reader can see with a position greater than ``after``."""
        ...

    async def head_position(self) -> int:
        """The highest position a reader can see now (0 for an empty store)."""
        ...
