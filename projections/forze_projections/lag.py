"""How far a feed consumer is behind the head of the log, in events and in seconds."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from forze.contracts import EventStore

__all__ = ["FeedLag", "feed_lag", "stuck_seconds"]


@dataclass(frozen=True, slots=True)
class FeedLag:
    """``events`` after the checkpoint; ``seconds`` the oldest of those it reads has waited."""

    head: int
    events: int
    seconds: float


async def feed_lag(
    events: EventStore,
    checkpoint: int,
    *,
    event_types: Collection[str] | None = None,
    categories: Collection[str] | None = None,
) -> FeedLag:
    """The lag of a consumer at ``checkpoint`` that reads ``event_types`` of ``categories``
    (``None``: all): every event after it counts, and the oldest it would read gives the
    seconds."""
    head = await events.head_position()
    seconds = 0.0
    if checkpoint < head:
        waiting = await events.read_all(
            after=checkpoint, limit=1, event_types=event_types, categories=categories
        )
        if waiting:
            seconds = (datetime.now(UTC) - waiting[0].recorded_at).total_seconds()
    count = await events.count_events(after=checkpoint)
    return FeedLag(head=head, events=count, seconds=max(0.0, seconds))


def stuck_seconds(lag: FeedLag, moved_at: datetime | None, *, now: datetime | None = None) -> float:
    """How long a consumer has been behind without progress: 0 when nothing it reads waits
    (``lag.seconds`` is 0); else the lesser of how long its oldest waiting event has waited and
    how long ago its checkpoint last moved (``moved_at``; ``None``: never, no bound).

    A consumer working through an old backlog moves its checkpoint, so it is not stuck however
    old the events are; one that stopped moving while behind is stuck since the later of its
    last move and the arrival of the oldest event it has not handled.
    """
    if lag.events == 0 or lag.seconds <= 0:
        return 0.0
    if moved_at is None:
        return lag.seconds
    idle = ((now or datetime.now(UTC)) - moved_at).total_seconds()
    return max(0.0, min(lag.seconds, idle))
