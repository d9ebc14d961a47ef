"""An event-store wrapper that yields to the event loop on every call, like a networked store."""

from __future__ import annotations

import asyncio

from forze.contracts import EventStore
from forze.execution import EventStoreView

__all__ = ["YieldingEventStore"]


class YieldingEventStore(EventStoreView):
    """Delegates to ``store`` but awaits ``asyncio.sleep(delay)`` before each call.

    The embedded SQLite store reads without suspending, so concurrent commands of one process
    seldom interleave between load and save. The demo wraps it in this to behave like a store
    across a network, where they do, so that optimistic-concurrency conflicts (and their
    retries) really happen.
    """

    def __init__(self, store: EventStore, *, delay: float = 0.0) -> None:
        super().__init__(store)
        self.delay = delay

    async def before(self, operation: str) -> None:
        """Yield to the event loop (for ``delay`` seconds)."""
        await asyncio.sleep(self.delay)
