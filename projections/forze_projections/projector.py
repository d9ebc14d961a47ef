"""``Projector``: runs projections over the feed from their checkpoints, then follows it live."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Callable, Sequence
from types import TracebackType

from forze.contracts import EventStore, Telemetry
from forze.domain.errors import InvalidInputError
from forze_eventstore.adapter_kit import DEFAULT_LIMITS
from forze_projections._feed_loop import FeedLoop
from forze_projections._held_lease import HeldLease
from forze_projections._projection_work import ProjectionWork
from forze_projections._runners import Runners, check_same_version
from forze_projections.backend import ProjectionBackend
from forze_projections.errors import ProjectionBusy, ProjectionFailed
from forze_projections.lag import feed_lag
from forze_projections.leases import check_lease_terms
from forze_projections.projection import Projection
from forze_projections.status import (
    FailurePolicy,
    ProjectionProgress,
    ProjectionStatus,
)

__all__ = ["ProgressCallback", "Projector", "default_owner"]

ProgressCallback = Callable[[ProjectionProgress], None]
"""Receives a ``ProjectionProgress`` after every batch."""

STOP_ON_ERROR = FailurePolicy()
_MAX_PAGE_BYTES = 2**63 - 1
"""The largest byte budget every event store accepts (a signed 64-bit integer)."""
log = logging.getLogger("forze.projector")


def default_owner() -> str:
    """A runner name unique to this projector: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Projector:
    """Runs projections in checkpointed batches: catch up from the checkpoint, then go live.

    **One runner per projection.** A projector takes a projection's lease (kept by the
    backend, so every process sharing the backend sees it) before it runs it, and renews it
    every third of ``lease_seconds`` while it does. Another projector, in this process or
    another, stands by (state ``STANDBY``) and takes over within about ``lease_seconds`` once
    the holder stops or dies; a stopping holder releases the lease, so its standby takes over at
    once. Each batch holds the lease inside its own unit of work: a runner that lost its lease
    (paused past the expiry) commits nothing more. ``catch_up`` and ``rebuild`` run the work
    themselves when no one holds the lease, and otherwise wait for the runner that does.

    **Batches.** Each batch's read-model writes and its checkpoint commit in one unit of work
    of the backend, so a projector killed mid-batch resumes with exactly the state of an
    uninterrupted run. A projection whose live version is older builds its own copy from the
    start and becomes live in the unit that reaches the head (the old version serves until
    then). A batch is at most ``batch_size`` events and stops early once their data and
    metadata JSON reach ``page_bytes`` (at least one event), so large events cannot exhaust
    memory.

    **Failures.** A failing projection stops alone (see ``FailurePolicy``), recorded in its
    status and the backend's failures, and gives its lease up; the others keep running. A
    transient ``EventStoreUnavailable`` (the event store or the read-model backend cannot be
    reached, from a handler too) is never the event's fault, so no policy applies to it: the
    batch rolls back, and a following projection (``run``, ``async with``) resumes from its
    checkpoint after a back-off (0.05 s, doubled after each failure in a row, up to 5 s;
    logged), while ``catch_up`` and ``rebuild`` raise it. A failure the backend would repeat
    stops the projection (``FAILED``, the error in its status); from a handler, the policy
    applies to it.
    """

    def __init__(
        self,
        events: EventStore,
        backend: ProjectionBackend,
        projections: Sequence[Projection],
        *,
        batch_size: int = 500,
        policy: FailurePolicy = STOP_ON_ERROR,
        on_progress: ProgressCallback | None = None,
        cache_size: int = 100_000,
        page_bytes: int = DEFAULT_LIMITS.page_bytes,
        owner: str | None = None,
        lease_seconds: float = 5.0,
        telemetry: Telemetry | None = None,
    ) -> None:
        names = [p.name for p in projections]
        if len(set(names)) != len(names):
            raise InvalidInputError(f"projections must have distinct names, got {names}")
        if batch_size < 1:
            raise InvalidInputError("batch_size must be >= 1")
        if not 1 <= page_bytes <= _MAX_PAGE_BYTES:
            raise InvalidInputError(f"page_bytes must be from 1 to {_MAX_PAGE_BYTES}")
        self.owner = default_owner() if owner is None else owner
        """This projector's name in the leases it holds (shown as a projection's holder)."""
        check_lease_terms(self.owner, lease_seconds)
        self.lease_seconds = lease_seconds
        """How long a lease lasts unrenewed: a dead holder's standby takes over after this."""
        self.page_bytes = page_bytes
        self.events = events
        self.backend = backend
        self.projections = {p.name: p for p in projections}
        self.batch_size = batch_size
        self.policy = policy
        self.on_progress = on_progress
        self.cache_size = cache_size
        """Documents per read model a projection keeps cached between batches (see
        ``DocumentCache``); 0 reads every document a batch touches from the store."""
        self.telemetry = telemetry
        """Observes every batch (kind ``projector``), if given (``Runtime.telemetry``)."""
        self._works = {p.name: ProjectionWork(p, backend, policy, cache_size) for p in projections}
        self._runners = Runners(
            events,
            backend.leases,
            names,
            owner=self.owner,
            lease_seconds=lease_seconds,
            loop=self._loop,
            progress=lambda: self.on_progress,
        )
        self._stopping = self._runners.stopping
        self._tasks: list[asyncio.Task[None]] = []
        self._runs = 0
        """How many ``run``/``async with`` runs follow the feed now (``stop`` ends them)."""
        for projection in projections:
            backend.claim(projection.name, projection.read_models)

    async def catch_up(self) -> list[ProjectionStatus]:
        """Bring every projection to the current head, then return their :meth:`status`.

        A projection that another runner holds is caught up by that runner; this waits for it.
        Raises the first ``ProjectionFailed`` of a projection that stopped on an error here,
        after every other projection has caught up. Works after an earlier run was stopped.
        """
        self._forget_old_stop()
        results = await asyncio.gather(
            *(self._runners.bring_up(w, rebuild=None) for w in self._works.values()),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return await self.status()

    async def run(self) -> None:
        """Run every projection whose lease this projector gets, standing by for the others,
        until :meth:`stop`; failed projections stop alone."""
        self._stopping.clear()
        self._runs += 1
        try:
            async with asyncio.TaskGroup() as group:  # serve() ends alone on a failure
                for work in self._works.values():
                    group.create_task(self._runners.serve(work), name=work.name)
        finally:
            self._runs -= 1

    def _forget_old_stop(self) -> None:
        """Let a catch-up or rebuild run after an earlier run was stopped (a stop asked while
        a run still follows the feed ends this work too)."""
        if self._runs == 0:
            self._stopping.clear()

    def stop(self) -> None:
        """Finish the batches in flight, then stop every projection (releasing its lease)."""
        self._stopping.set()

    async def __aenter__(self) -> Projector:
        self._stopping.clear()
        self._runs += 1
        self._tasks = [asyncio.ensure_future(self._runners.serve(w)) for w in self._works.values()]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        try:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            self._tasks = []
            self._runs -= 1

    def error(self, name: str) -> ProjectionFailed | None:
        """The error that stopped projection ``name``, if any."""
        error = self._runners.errors.get(name)
        return error if isinstance(error, ProjectionFailed) else None

    async def reset(self, name: str) -> None:
        """Forget the checkpoint and documents of ``name``'s version, so it rebuilds from 0.

        Refused with ``ProjectionBusy`` while a runner holds the projection (use
        :meth:`rebuild`, which that runner carries out)."""
        work = self._work(name)
        held = None
        if name not in self._runners.held:
            held = await HeldLease.take(
                self.backend.leases, name, self.owner, work.version, self.lease_seconds
            )
        if held is None:
            lease = await self.backend.leases.read(name)
            holder = lease.holder if lease is not None else None
            raise ProjectionBusy(
                f"projection {name!r} is being run by {holder or 'this projector'}: "
                "a reset would race it; ask for a rebuild, which the runner carries out"
            )
        async with held:
            await work.start_over(held, None)
        self._runners.errors.pop(name, None)
        self._runners.crashes.pop(name, None)

    async def rebuild(self, name: str) -> ProjectionStatus:
        """Build ``name``'s version again from the start of the feed, up to the head.

        The rebuild is a request kept with the projection's lease: the runner holding the
        lease (this projector, or a service in another process) carries it out, and this
        waits until it has and the rebuilt version reached the head; with no runner, this
        projector does the work. The documents readers see stay those of the live version until
        the rebuilt one is caught up, unless the rebuilt version is itself the live one (then
        readers see it fill; bump the version for a rebuild readers do not notice). Works after
        an earlier run was stopped.
        """
        self._forget_old_stop()
        work = self._work(name)
        leases = self.backend.leases
        lease = await leases.read(name)
        if lease is not None and lease.holder is not None:
            check_same_version(work, lease.version, lease.holder)
        number = await leases.request_rebuild(name)
        local = self._runners.held.get(name)
        if local is not None:
            found = await leases.read(name)
            if found is not None:
                local.note(found)  # wakes this projector's runner now
        await self._runners.bring_up(work, rebuild=number)
        (status,) = [s for s in await self.status() if s.name == name]
        return status

    async def wait_until(
        self,
        position: int,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the wait's own deadline, as documented
    ) -> None:
        """Wait until every projection has handled the feed up to ``position`` (an appended
        event's ``position``): read-your-writes, whichever process runs the projections.

        Raises ``TimeoutError`` after ``timeout`` seconds, and the error of a projection of
        this projector that stopped on a failure meanwhile.
        """
        async with asyncio.timeout(timeout):
            delay = 0.002
            while True:
                behind = False
                for projection in self.projections.values():
                    error = self._runners.error(projection.name)
                    if error is not None:
                        raise error
                    done = await self.backend.checkpoints.load(projection.checkpoint_name)
                    behind = behind or done < position
                if not behind:
                    return
                await self._runners.pause(delay)
                delay = min(delay * 2, 0.1)

    async def status(self) -> list[ProjectionStatus]:
        """Checkpoint, lag (events and seconds behind the head), state, error, last error and
        lease holder of each projection, in the order the projector was given them."""
        found = []
        for projection in self.projections.values():
            checkpoints, checkpoint_name = self.backend.checkpoints, projection.checkpoint_name
            checkpoint = await checkpoints.load(checkpoint_name)
            lag = await feed_lag(self.events, checkpoint, event_types=projection.event_types)
            error = self._runners.error(projection.name)
            last_error, last_error_at = self._runners.last_errors.get(projection.name, (None, None))
            lease = await self.backend.leases.read(projection.name)
            found.append(
                ProjectionStatus(
                    name=projection.name,
                    version=projection.version,
                    live_version=await self.backend.live_version(projection.name),
                    checkpoint=checkpoint,
                    head=lag.head,
                    lag_events=lag.events,
                    lag_seconds=lag.seconds,
                    state=self._runners.states[projection.name],
                    error=None if error is None else str(error),
                    holder=None if lease is None else lease.holder,
                    last_error=last_error,
                    last_error_at=last_error_at,
                    moved_at=await checkpoints.moved_at(checkpoint_name),
                )
            )
        return found

    def _work(self, name: str) -> ProjectionWork:
        try:
            return self._works[name]
        except KeyError:
            known = ", ".join(sorted(self.projections)) or "none"
            raise InvalidInputError(f"no projection named {name!r} (known: {known})") from None

    def _loop(self) -> FeedLoop:
        return FeedLoop(
            events=self.events,
            batch_size=self.batch_size,
            page_bytes=self.page_bytes,
            stopping=self._stopping,
            on_progress=self.on_progress,
            on_batch=self._runners.batched,
            telemetry=self.telemetry,
        )
