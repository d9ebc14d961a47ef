"""What a projector reports: progress while it runs, status and lag on demand."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

__all__ = ["FailurePolicy", "ProjectionProgress", "ProjectionState", "ProjectionStatus"]


class ProjectionState(enum.Enum):
    """Where a projection's runner is."""

    IDLE = "idle"
    STANDBY = "standby"
    """Another runner holds the projection's lease; this one takes over when it lapses."""
    CATCHING_UP = "catching up"
    LIVE = "live"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class FailurePolicy:
    """What a projection does when a handler raises.

    ``stop`` (the default) rolls back the batch and stops that projection with a
    ``ProjectionFailed`` naming the event; ``skip`` undoes that event's writes, records the
    failure and goes on; ``retry`` rolls back and tries the batch again after a back-off
    (``backoff`` doubling up to ``max_backoff``) ``retries`` times, then stops.
    """

    on_error: Literal["stop", "skip", "retry"] = "stop"
    retries: int = 5
    backoff: float = 0.1
    max_backoff: float = 5.0


@dataclass(frozen=True, slots=True)
class ProjectionProgress:
    """A progress report, sent after each batch to the ``on_progress`` callback."""

    name: str
    version: int
    position: int
    head: int
    handled: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        """Events handled per second since the run started."""
        return self.handled / self.seconds if self.seconds > 0 else 0.0

    @property
    def eta_seconds(self) -> float:
        """Estimated seconds to reach ``head`` at the current rate (positions left / rate)."""
        rate = self.position / self.seconds if self.seconds > 0 else 0.0
        return (self.head - self.position) / rate if rate > 0 else 0.0


@dataclass(frozen=True, slots=True)
class ProjectionStatus:
    """One projection version: its checkpoint, lag behind the head, state and errors.

    ``error`` is what stopped it (``FAILED``), or ``None``. ``last_error`` is the last error
    its runner in this process met, with its time ``last_error_at``: a passing outage it is
    backing off from, a page it retried, or what stopped it. It is kept after the runner
    recovers (replaced only by a later error): it is current while ``last_error_at`` is after
    ``moved_at``, when the checkpoint last moved. Known to the process that met it only.
    """

    name: str
    version: int
    live_version: int | None
    checkpoint: int
    head: int
    lag_events: int
    lag_seconds: float
    state: ProjectionState
    error: str | None = None
    holder: str | None = None
    """The runner holding the projection's lease now (any process), or ``None``."""
    last_error: str | None = None
    """The last error this process's runner met (see the class), or ``None``."""
    last_error_at: datetime | None = None
    """When ``last_error`` happened (UTC)."""
    moved_at: datetime | None = None
    """When the checkpoint last moved forward (any process; ``None``: it never did)."""
