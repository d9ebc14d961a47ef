"""Errors and failure records of projections."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from forze.contracts import RecordedEvent
from forze.domain.errors import ForzeError

__all__ = ["ProjectionBusy", "ProjectionFailed", "ProjectionFailure"]


class ProjectionFailed(ForzeError):
    """A projection's handler raised; the message names the projection, event and position."""

    def __init__(self, projection: str, event: RecordedEvent, cause: BaseException) -> None:
        super().__init__(
            f"projection {projection!r} failed on {event.event_type!r} at position "
            f"{event.position} (stream {event.stream_id!r}, version {event.version}): "
            f"{type(cause).__name__}: {cause}"
        )
        self.projection = projection
        self.event = event
        self.cause = cause


class ProjectionBusy(ForzeError):
    """Another runner holds the projection's lease, and the operation would race it."""


@dataclass(frozen=True, slots=True)
class ProjectionFailure:
    """A recorded failure: an event a projection skipped (or stopped at) and why."""

    projection: str
    position: int
    event_type: str
    stream_id: str
    error: str
    at: datetime
