"""What the feed-consumer engine runs: a ``FeedWork`` (a projection, a relay, a dispatcher).

The engine (``FeedLoop``, ``run_work``, ``Runners``) owns what every feed consumer shares:
one runner per work across processes (its lease), paging from the checkpoint with read-ahead,
following the live feed, back-off on passing outages, the failure policy, rebuild requests and
the state shown in its status. A work says what to read and what to do with each page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from typing import Protocol

from forze.contracts import RecordedEvent
from forze.domain.errors import BrokerUnavailable, EventStoreUnavailable
from forze_projections._held_lease import HeldLease
from forze_projections.errors import EventFailed
from forze_projections.status import FailurePolicy

__all__ = ["FeedRun", "FeedWork", "first_failure", "is_transient"]


class FeedRun(Protocol):
    """One run of a work from its checkpoint (made by ``FeedWork.begin``)."""

    async def apply(
        self, page: Sequence[RecordedEvent], after: int, scanned: int, *, reached: bool
    ) -> None:
        """Handle ``page`` (events after checkpoint ``after``) and save ``scanned`` as the
        checkpoint; ``reached``: this run reaches the head for the first time.

        Calls ``held.fence()`` in the unit that saves the checkpoint, so a runner that lost its
        lease saves nothing. Raises an ``EventFailed`` naming the event its policy stops on,
        and a transient error (``is_transient``) for a passing outage: the engine backs off and
        starts a new run from the checkpoint."""
        ...


class FeedWork(Protocol):
    """A feed consumer's work: what it reads, its checkpoint and what it does with a page."""

    @property
    def name(self) -> str:
        """The name of its lease and status (unique among the works sharing a backend)."""
        ...

    @property
    def version(self) -> int:
        """Its version: a runner of another version is not waited on (``Runners``)."""
        ...

    @property
    def checkpoint_name(self) -> str:
        """The checkpoint it keeps."""
        ...

    @property
    def event_types(self) -> Collection[str] | None:
        """The event types it reads (``None``: every type)."""
        ...

    @property
    def categories(self) -> Collection[str] | None:
        """The stream categories it reads (``None``: every category)."""
        ...

    @property
    def policy(self) -> FailurePolicy:
        """What the engine does when a page fails on an event (``EventFailed``)."""
        ...

    async def checkpoint(self) -> int:
        """The position it has handled the feed up to."""
        ...

    async def begin(self, held: HeldLease) -> FeedRun:
        """Start a run from the checkpoint, under ``held``."""
        ...

    async def start_over(self, held: HeldLease, number: int | None) -> None:
        """Forget what it did, back to position 0, in one unit that holds ``held``, and mark
        rebuild request ``number`` carried out."""
        ...

    async def record_failure(self, failure: EventFailed) -> None:
        """Keep the failure it stopped on, for operators."""
        ...


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is a passing outage of the store or a broker (try again later)."""
    return isinstance(error, EventStoreUnavailable | BrokerUnavailable) and error.transient


def first_failure(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error a failed group of concurrent lanes raises: a failure on an event first,
    then an outage, then anything else (a bug)."""
    leaves = list(_leaves(group))
    for wanted in (
        lambda e: isinstance(e, EventFailed),
        is_transient,
        lambda e: not isinstance(e, asyncio.CancelledError),
    ):
        for leaf in leaves:
            if wanted(leaf):
                return leaf
    return leaves[0]


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            found.extend(_leaves(error))
        else:
            found.append(error)
    return found
