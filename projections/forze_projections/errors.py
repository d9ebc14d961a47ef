"""Errors and failure records of projections."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from forze.contracts import RecordedEvent
from forze.domain.errors import ForzeError

__all__ = ["EventFailed", "ProjectionBusy", "ProjectionFailed", "ProjectionFailure"]


class EventFailed(ForzeError):
    """A feed consumer (a projection, a relay) failed on one event; the message names the
    consumer, the event and its position, and ``cause`` is what went wrong."""

    def __init__(
        self, consumer: str, event: RecordedEvent, cause: BaseException, *, kind: str = "consumer"
    ) -> None:
        super().__init__(
            f"{kind} {consumer!r} failed on {event.event_type!r} at position "
            f"{event.position} (stream {event.stream_id!r}, version {event.version}): "
            f"{type(cause).__name__}: {cause}"
        )
        self.consumer = consumer
        self.event = event
        self.cause = cause


class ProjectionFailed(EventFailed):
    """A projection's handler raised; the message names the projection, event and position."""

    def __init__(self, projection: str, event: RecordedEvent, cause: BaseException) -> None:
        super().__init__(projection, event, cause, kind="projection")
        self.projection = projection


class ProjectionBusy(ForzeError):
    """Another runner holds the projection's lease, and the operation would race it."""


@dataclass(frozen=True, slots=True)
class ProjectionFailure:
    """A recorded failure: an event a projection or relay skipped (or stopped at) and why.

    ``projection`` is the name of the consumer (a relay's is ``relay:<name>``)."""

    projection: str
    position: int
    event_type: str
    stream_id: str
    error: str
    at: datetime
