"""A saga dispatcher as the engine's work: each page's events go to their saga instances."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from forze.contracts import RecordedEvent, SagaRunner
from forze_projections._batches import failure_record
from forze_projections._feed_service import CheckpointedWork
from forze_projections._feed_work import first_failure, is_transient
from forze_projections._held_lease import HeldLease
from forze_projections.backend import ProjectionBackend
from forze_projections.errors import EventFailed
from forze_projections.sagas.definition import Saga
from forze_projections.status import FailurePolicy

__all__ = ["DispatchFailed", "DispatchWork"]


class DispatchFailed(EventFailed):
    """A dispatcher could not deliver an event: its key could not be read (an event that
    does not decode, a key function that raised) or the runner refused it for good."""

    def __init__(self, dispatcher: str, event: RecordedEvent, cause: BaseException) -> None:
        super().__init__(dispatcher, event, cause, kind="saga dispatcher")


@dataclass(slots=True)
class DispatchCounts:
    """What one dispatcher delivered in this process."""

    delivered: int = 0
    skipped: int = 0


Delivery = tuple[Saga[Any], str, RecordedEvent]


@dataclass(frozen=True, slots=True)
class DispatchWork(CheckpointedWork):
    """``FeedWork`` of one dispatcher: deliver each page, then save the checkpoint."""

    name: str
    backend: ProjectionBackend
    runner: SagaRunner
    sagas: tuple[Saga[Any], ...]
    policy: FailurePolicy
    lanes: int
    counts: DispatchCounts = field(default_factory=DispatchCounts)

    @property
    def event_types(self) -> Collection[str]:
        """Every event type one of its sagas reads."""
        return tuple(dict.fromkeys(t for saga in self.sagas for t in saga.event_types))

    @property
    def categories(self) -> Collection[str] | None:
        """Every category."""
        return None

    async def begin(self, held: HeldLease) -> _DispatchRun:
        """Start a run from the checkpoint."""
        held.check()
        return _DispatchRun(self, held)


@dataclass(slots=True)
class _DispatchRun:
    work: DispatchWork
    held: HeldLease
    skipped: list[DispatchFailed] = field(default_factory=list)

    async def apply(
        self, page: Sequence[RecordedEvent], after: int, scanned: int, *, reached: bool
    ) -> None:
        """Deliver ``page`` (one lane per instance, in order within it), then save
        ``scanned`` in a unit that holds the lease."""
        work = self.work
        self.held.check()
        lanes: dict[tuple[str, str], list[Delivery]] = {}
        for event in page:
            if event.position <= after:
                continue
            for saga in work.sagas:
                key = self._key(saga, event)
                if key is not None:
                    lanes.setdefault((saga.name, key), []).append((saga, key, event))
        if lanes:
            await self._deliver(list(lanes.values()))
        async with work.backend.unit():
            await self.held.fence()
            for failure in self.skipped:
                await work.backend.record_failure(failure_record(failure))
            await work.backend.checkpoints.save(work.checkpoint_name, scanned)
        work.counts.delivered += sum(len(lane) for lane in lanes.values())
        work.counts.skipped += len(self.skipped)
        self.skipped = []

    def _key(self, saga: Saga[Any], event: RecordedEvent) -> str | None:
        try:
            return saga.key_of(event)
        except Exception as error:
            self._failed(DispatchFailed(self.work.name, event, error))
            return None

    def _failed(self, failure: DispatchFailed) -> None:
        """Skip the event (``skip``) or stop on it."""
        if self.work.policy.on_error != "skip":
            raise failure
        self.skipped.append(failure)

    async def _deliver(self, lanes: list[list[Delivery]]) -> None:
        """At most ``lanes`` instances at once; one instance's events in feed order."""
        gate = asyncio.Semaphore(self.work.lanes)

        async def lane(items: list[Delivery]) -> None:
            async with gate:
                for saga, key, event in items:
                    try:
                        await self.work.runner.deliver(saga.name, key, event)
                    except Exception as error:
                        if is_transient(error):
                            raise
                        self._failed(DispatchFailed(self.work.name, event, error))

        if len(lanes) == 1:
            await lane(lanes[0])
            return
        try:
            async with asyncio.TaskGroup() as group:
                for items in lanes:
                    group.create_task(lane(items))
        except BaseExceptionGroup as failed:
            raise first_failure(failed) from None
