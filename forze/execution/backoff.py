"""``Backoff``: the one exponential back-off every retry loop of forze uses."""

from __future__ import annotations

import random
from dataclasses import dataclass

from forze.domain.errors import InvalidInputError

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Waits that start at ``first`` seconds and double after each further failure in a row,
    up to ``longest``; with ``jitter`` (a fraction from 0 to 1) each wait is cut by a random
    part of up to that fraction, so that many retrying callers do not retry in step.
    ``jitter=1`` is "full jitter" (a wait anywhere from 0 to the exponential bound): what
    callers competing for one resource need to spread out (``retry_on_conflict`` uses it).

    Used by command retries on conflicts, repository retries, subscriptions and projectors
    resuming after a store outage, and the projection failure policy's retries.
    """

    first: float
    longest: float
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.first <= self.longest:
            raise InvalidInputError(
                f"a back-off needs 0 <= first <= longest, got {self.first} and {self.longest}"
            )
        if not 0 <= self.jitter <= 1:
            raise InvalidInputError(f"back-off jitter is a fraction from 0 to 1, not {self.jitter}")

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failures in a row (1 for the first)."""
        wait = min(self.first * (1 << min(max(failures - 1, 0), 32)), self.longest)
        if self.jitter:
            wait *= 1 - self.jitter * random.random()
        return wait
