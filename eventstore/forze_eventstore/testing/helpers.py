"""Small builders shared by the contract suites."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

from forze.contracts import NewEvent, RecordedEvent

__all__ = ["collect", "new_event", "new_events"]


def new_event(event_type: str = "Happened", event_id: UUID | None = None, **data: Any) -> NewEvent:
    """A ``NewEvent`` with ``data`` and a fresh id unless one is given."""
    return NewEvent(event_type=event_type, data=data, event_id=event_id or uuid4())


def new_events(count: int, event_type: str = "Happened") -> list[NewEvent]:
    """``count`` events numbered ``n=0..count-1``."""
    return [new_event(event_type, n=n) for n in range(count)]


async def collect(
    feed: AsyncIterator[RecordedEvent], count: int, *, seconds: float = 5.0
) -> list[RecordedEvent]:
    """The first ``count`` events of ``feed``; fails if they do not arrive within ``seconds``."""
    found: list[RecordedEvent] = []

    async def take() -> None:
        async for event in feed:
            found.append(event)
            if len(found) == count:
                return

    try:
        await asyncio.wait_for(take(), seconds)
    except TimeoutError:
        raise AssertionError(
            f"{len(found)} of {count} events arrived within {seconds} s"
            + (f"; the last at position {found[-1].position}" if found else "")
        ) from None
    return found
