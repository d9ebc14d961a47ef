"""What a relay and a saga dispatcher share: one work on the engine, run as a service.

``FeedService`` owns the ``Runners`` of one ``FeedWork`` and gives the lifecycle every such
feed consumer offers (``run``/``stop``, ``async with``, ``catch_up``, ``wait_until``,
``failures``) and the parts of its status read from the store (lag, last move, holder,
errors). Its subclasses add what they do with a page and their own status fields.
``CheckpointedWork`` is the part of a ``FeedWork`` they share: one version, the checkpoint
under the work's name, starting over and keeping failures.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar

from forze.contracts import EventStore, Telemetry
from forze_projections._batches import failure_record
from forze_projections._feed_loop import FeedLoop
from forze_projections._feed_work import FeedWork
from forze_projections._held_lease import HeldLease
from forze_projections._runners import Runners
from forze_projections.backend import ProjectionBackend
from forze_projections.errors import EventFailed, ProjectionFailure
from forze_projections.lag import feed_lag, stuck_seconds
from forze_projections.leases import check_lease_terms
from forze_projections.projector import ProgressCallback, default_owner
from forze_projections.status import ProjectionState

__all__ = ["CheckpointedWork", "FeedService", "ServiceStatus"]


class CheckpointedWork:
    """The ``FeedWork`` members a relay's and a dispatcher's works share (they have ``name``
    and ``backend`` fields)."""

    __slots__ = ()
    name: str
    backend: ProjectionBackend

    @property
    def version(self) -> int:
        """One version: a relay or a dispatcher has no schema to rebuild."""
        return 1

    @property
    def checkpoint_name(self) -> str:
        """The checkpoint: the work's (and its lease's) name."""
        return self.name

    async def checkpoint(self) -> int:
        """The position up to which every event was handed over and accepted."""
        return await self.backend.checkpoints.load(self.name)

    async def start_over(self, held: HeldLease, number: int | None) -> None:
        """Back to position 0 (every event is handed over again), marking request ``number``."""
        async with self.backend.unit():
            await held.fence()
            await self.backend.checkpoints.reset(self.name)
            if number is not None:
                await self.backend.leases.finish_rebuild(self.name, held.owner, number)

    async def record_failure(self, failure: EventFailed) -> None:
        """Keep the failure in the backend's failures, under the work's name."""
        await self.backend.record_failure(failure_record(failure))


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """The status fields every feed service reads from the store and its runners."""

    checkpoint: int
    head: int
    lag_events: int
    lag_seconds: float
    state: ProjectionState
    stalled: bool
    error: str | None
    holder: str | None
    moved_at: datetime | None
    last_error: tuple[str, datetime] | None


class FeedService:
    """One feed consumer's work run as a service (see the module)."""

    kind: ClassVar[str]
    """What it is, as a telemetry hears it (``relay``, ``saga``)."""

    def __init__(
        self,
        events: EventStore,
        backend: ProjectionBackend,
        work: FeedWork,
        *,
        owner: str | None,
        lease_seconds: float,
        batch_size: int,
        page_bytes: int,
        stall_seconds: float,
        on_progress: ProgressCallback | None,
        telemetry: Telemetry | None,
    ) -> None:
        self.owner = default_owner() if owner is None else owner
        check_lease_terms(self.owner, lease_seconds)
        self.events, self.backend = events, backend
        self.batch_size, self.page_bytes = batch_size, page_bytes
        self.stall_seconds = stall_seconds
        self.on_progress = on_progress
        self.telemetry = telemetry
        """Observes every batch, if given (``Runtime.telemetry``)."""
        self._work: Any = work
        self._runners = Runners(
            events,
            backend.leases,
            [work.name],
            owner=self.owner,
            lease_seconds=lease_seconds,
            loop=self._loop,
            progress=lambda: self.on_progress,
        )
        self._task: asyncio.Task[None] | None = None

    @property
    def checkpoint_name(self) -> str:
        """The name of its checkpoint and lease."""
        return str(self._work.name)

    async def run(self) -> None:
        """Work while holding the lease (standing by otherwise) until :meth:`stop`."""
        self._runners.stopping.clear()
        await self._runners.serve(self._work)

    def stop(self) -> None:
        """Finish the page in flight, then stop (releasing the lease)."""
        self._runners.stopping.set()

    async def _enter(self) -> None:
        self._runners.stopping.clear()
        self._task = asyncio.create_task(self._runners.serve(self._work), name=self.checkpoint_name)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        task, self._task = self._task, None
        if task is not None:
            await task

    async def _catch_up(self) -> None:
        """Bring the work up to the head (or wait for the runner holding the lease to);
        raises the failure that stopped it here."""
        if self._task is None:
            self._runners.stopping.clear()
        await self._runners.bring_up(self._work, rebuild=None)

    async def wait_until(
        self,
        position: int,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the wait's own deadline, as documented
    ) -> None:
        """Wait until everything up to ``position`` was handed over and accepted;
        ``TimeoutError`` after ``timeout`` seconds, the failure if it stopped."""
        async with asyncio.timeout(timeout):
            delay = 0.002
            while await self._work.checkpoint() < position:
                error = self._runners.error(self.checkpoint_name)
                if error is not None:
                    raise error
                await self._runners.pause(delay)
                delay = min(delay * 2, 0.1)

    async def failures(self) -> list[ProjectionFailure]:
        """The events it skipped or stopped on (any process), oldest first."""
        return await self.backend.failures(self.checkpoint_name)

    async def _service_status(
        self, noted: list[tuple[str, datetime] | None] | None = None
    ) -> ServiceStatus:
        """What the store and this process's runners say; ``noted``: more errors to weigh
        for ``last_error`` beside the runner's."""
        work, name = self._work, self.checkpoint_name
        checkpoint = await work.checkpoint()
        lag = await feed_lag(
            self.events, checkpoint, event_types=work.event_types, categories=work.categories
        )
        moved_at = await self.backend.checkpoints.moved_at(name)
        error = self._runners.error(name)
        candidates = [self._runners.last_errors.get(name), *(noted or [])]
        last = max((c for c in candidates if c is not None), key=lambda c: c[1], default=None)
        lease = await self.backend.leases.read(name)
        return ServiceStatus(
            checkpoint=checkpoint,
            head=lag.head,
            lag_events=lag.events,
            lag_seconds=lag.seconds,
            state=self._runners.states[name],
            stalled=stuck_seconds(lag, moved_at) > self.stall_seconds,
            error=None if error is None else str(error),
            holder=None if lease is None else lease.holder,
            moved_at=moved_at,
            last_error=last,
        )

    def _loop(self) -> FeedLoop:
        return FeedLoop(
            events=self.events,
            batch_size=self.batch_size,
            page_bytes=self.page_bytes,
            stopping=self._runners.stopping,
            on_progress=self.on_progress,
            on_batch=self._runners.batched,
            telemetry=self.telemetry,
            kind=self.kind,
        )
