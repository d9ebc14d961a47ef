"""An event-store wrapper that yields to the event loop on every call, like a networked store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Collection, Sequence

from forze.contracts import (
    AppendResult,
    EventStore,
    ExpectedVersion,
    ExpectedVersionArg,
    NewEvent,
    RecordedEvent,
)

__all__ = ["YieldingEventStore"]


class YieldingEventStore:
    """Delegates to ``store`` but awaits ``asyncio.sleep(delay)`` before each call.

    The embedded SQLite store never suspends, so concurrent commands of one process never
    interleave between load and save. The demo wraps it in this to behave like a store across
    a network, where they do, so that optimistic-concurrency conflicts (and their retries)
    really happen.
    """

    def __init__(self, store: EventStore, *, delay: float = 0.0) -> None:
        self.store = store
        self.delay = delay

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersionArg = ExpectedVersion.ANY,
    ) -> AppendResult:
        """See ``EventStore.append``."""
        await asyncio.sleep(self.delay)
        return await self.store.append(stream_id, events, expected_version)

    async def append_many(
        self, appends: Sequence[tuple[str, Sequence[NewEvent], ExpectedVersionArg]]
    ) -> list[AppendResult]:
        """See ``EventStore.append_many``."""
        await asyncio.sleep(self.delay)
        return await self.store.append_many(appends)

    async def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        limit: int | None = None,
        backwards: bool = False,
    ) -> Sequence[RecordedEvent]:
        """See ``EventStore.read_stream``."""
        await asyncio.sleep(self.delay)
        return await self.store.read_stream(
            stream_id, from_version=from_version, limit=limit, backwards=backwards
        )

    async def read_all(
        self,
        *,
        after: int = 0,
        limit: int | None = None,
        event_types: Collection[str] | None = None,
        categories: Collection[str] | None = None,
    ) -> Sequence[RecordedEvent]:
        """See ``EventStore.read_all``."""
        await asyncio.sleep(self.delay)
        return await self.store.read_all(
            after=after, limit=limit, event_types=event_types, categories=categories
        )

    def subscribe(
        self,
        *,
        after: int = 0,
        event_types: Collection[str] | None = None,
        categories: Collection[str] | None = None,
    ) -> AsyncGenerator[RecordedEvent, None]:
        """See ``EventStore.subscribe``."""
        return self.store.subscribe(after=after, event_types=event_types, categories=categories)

    async def stream_version(self, stream_id: str) -> int:
        """See ``EventStore.stream_version``."""
        await asyncio.sleep(self.delay)
        return await self.store.stream_version(stream_id)

    async def count_events(self, *, after: int = 0) -> int:
        """See ``EventStore.count_events``."""
        return await self.store.count_events(after=after)

    async def head_position(self) -> int:
        """See ``EventStore.head_position``."""
        return await self.store.head_position()
