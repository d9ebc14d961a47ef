"""A relay as the engine's work: pages of recorded events become published messages."""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from forze.contracts import Message, Publisher, RecordedEvent, Telemetry
from forze.domain.errors import MessageRefused
from forze.messaging import message_of
from forze_projections._batches import failure_record
from forze_projections._feed_service import CheckpointedWork
from forze_projections._feed_work import first_failure
from forze_projections._held_lease import HeldLease
from forze_projections.backend import ProjectionBackend
from forze_projections.errors import EventFailed
from forze_projections.status import FailurePolicy

__all__ = ["RelayFailed", "RelayWork", "parallel_calls"]

log = logging.getLogger("forze.relay")

Router = Callable[[RecordedEvent], str]
"""Where an event goes: a routing key, a queue or a stream name (``Message.destination``)."""


def parallel_calls(publisher: Publisher) -> int:
    """How many calls at once serve ``publisher`` best: its ``parallel_calls`` attribute, an
    optional hint of the ``Publisher`` port (1 when it has none)."""
    hint = getattr(publisher, "parallel_calls", 1)
    return hint if isinstance(hint, int) and hint >= 1 else 1


class RelayFailed(EventFailed):
    """A relay could not publish an event: the broker refused it, or routing it failed."""

    def __init__(self, relay: str, event: RecordedEvent, cause: BaseException) -> None:
        super().__init__(relay, event, cause, kind="relay")


@dataclass(slots=True)
class RelayCounts:
    """What one relay published in this process (its status shows them)."""

    published: int = 0
    refused: int = 0
    batches: int = 0
    last_refused: tuple[str, datetime] | None = None
    """The last message skipped because the broker refused it (why), and when."""


@dataclass(frozen=True, slots=True)
class RelayWork(CheckpointedWork):
    """``FeedWork`` of one relay: publish each page, then save the checkpoint (see ``Relay``)."""

    name: str
    backend: ProjectionBackend
    publisher: Publisher
    policy: FailurePolicy
    source: str
    route: Router
    ordering_key: Callable[[RecordedEvent], str] | None
    lanes: int
    event_types: Collection[str] | None
    categories: Collection[str] | None
    counts: RelayCounts = field(default_factory=RelayCounts)
    telemetry: Telemetry | None = None
    """Observes every publisher call and traces its messages, if given."""

    async def begin(self, held: HeldLease) -> _RelayRun:
        """Start a run from the checkpoint."""
        held.check()
        return _RelayRun(self, held)

    def message(self, event: RecordedEvent) -> Message:
        """The message that carries ``event`` (``RelayFailed`` when routing it fails)."""
        try:
            key = None if self.ordering_key is None else self.ordering_key(event)
            return message_of(
                event, source=self.source, destination=self.route(event), ordering_key=key
            )
        except Exception as error:
            raise RelayFailed(self.name, event, error) from error


@dataclass(slots=True)
class _RelayRun:
    work: RelayWork
    held: HeldLease
    skipped: list[RelayFailed] = field(default_factory=list)

    async def apply(
        self, page: Sequence[RecordedEvent], after: int, scanned: int, *, reached: bool
    ) -> None:
        """Publish ``page`` (concurrently by lane, each lane in order), then save ``scanned``
        in a unit that holds the lease."""
        work = self.work
        self.held.check()
        pending = [(work.message(event), event) for event in page if event.position > after]
        if pending:
            await self._publish(pending)
        async with work.backend.unit():
            await self.held.fence()
            for failure in self.skipped:
                await work.backend.record_failure(failure_record(failure))
            await work.backend.checkpoints.save(work.checkpoint_name, scanned)
        work.counts.published += len(pending) - len(self.skipped)
        work.counts.refused += len(self.skipped)
        work.counts.batches += 1
        self.skipped = []

    async def _publish(self, pending: list[tuple[Message, RecordedEvent]]) -> None:
        """Publish in ``lanes`` concurrent lanes; one ordering key's messages share a lane."""
        lanes: dict[int, list[tuple[Message, RecordedEvent]]] = {}
        count = self.work.lanes
        for item in pending:
            lane = zlib.crc32(item[0].ordering_key.encode()) % count if count > 1 else 0
            lanes.setdefault(lane, []).append(item)
        if len(lanes) == 1:
            (only,) = lanes.values()
            await self._publish_lane(only)
            return
        try:
            async with asyncio.TaskGroup() as group:
                for lane_items in lanes.values():
                    group.create_task(self._publish_lane(lane_items))
        except BaseExceptionGroup as failed:
            raise first_failure(failed) from None

    async def _publish_lane(self, items: list[tuple[Message, RecordedEvent]]) -> None:
        """Publish ``items`` in order; a refused message follows the policy (``skip``: recorded
        with the checkpoint, and the lane goes on after it)."""
        work = self.work
        rest = items
        while rest:
            try:
                if work.telemetry is None:
                    await work.publisher.publish([message for message, _ in rest])
                else:
                    await self._publish_traced(work.telemetry, rest)
                return
            except MessageRefused as refused:
                at = next((i for i, (m, _) in enumerate(rest) if m.id == refused.message_id), 0)
                failure = RelayFailed(work.name, rest[at][1], refused)
                if work.policy.on_error != "skip":
                    raise failure from refused
                log.warning("%s; skipped", failure)
                self.skipped.append(failure)
                work.counts.last_refused = (f"skipped: {failure}", datetime.now(UTC))
                rest = rest[at + 1 :]

    async def _publish_traced(
        self, telemetry: Telemetry, items: list[tuple[Message, RecordedEvent]]
    ) -> None:
        """Publish ``items`` in one publisher call within the telemetry's scope."""
        messages, events = [m for m, _ in items], [e for _, e in items]
        with telemetry.publish(self.work.name, messages, events) as traced:
            await self.work.publisher.publish(traced)
