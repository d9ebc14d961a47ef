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

__all__ = ["EventStore", "StreamAppend"]


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
       of the same stream, returns the original result and stores nothing; an id reused
       anywhere else raises ``DuplicateEventIdError``. Durable, not a cache.
    4. **Gap-safe global order**: once a reader has seen position ``p``, no event with a
       position below ``p`` can appear later.
    5. **Catch-up then live**: ``subscribe`` replays from a position, then follows new events.
    6. **Translated errors**: bad input (empty stream id, an unknown expected-version form,
       non-JSON data) raises ``InvalidInputError`` before anything is written; backend
       failures raise ``EventStoreUnavailable``.
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
    ) -> Sequence[RecordedEvent]:
        """Events of one stream starting at ``from_version`` (inclusive), at most ``limit``.

        Forwards, ``from_version`` defaults to 1 and versions go up; backwards, it defaults to
        the stream's last version and versions go down, so ``backwards=True, limit=1`` is the
        latest event. A stream that does not exist reads as empty.
        """
        ...

    async def read_all(
        self,
        *,
        after: int = 0,
        limit: int | None = None,
        event_types: Collection[str] | None = None,
        categories: Collection[str] | None = None,
    ) -> Sequence[RecordedEvent]:
        """Events of every stream with a position greater than ``after``, in global order."""
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
