"""Who runs each projection of a ``Projector``: the holder of its lease, here or elsewhere.

``Runners`` keeps, per projection, the state and error shown in its status and the lease this
projector holds. ``serve`` stands by for the lease and runs the projection while it holds it
(``run``, ``async with``); ``bring_up`` runs it to the head here when the lease is free, or
waits for the runner that holds it (``catch_up``, ``rebuild``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable

from forze.contracts import EventStore
from forze.domain.errors import EventStoreUnavailable, InvalidInputError
from forze_eventstore import outage_delay
from forze_projections._feed_loop import FeedLoop
from forze_projections._held_lease import HeldLease, standby_pause
from forze_projections._projection_run import run_projection
from forze_projections.backend import ProjectionBackend
from forze_projections.errors import ProjectionFailed
from forze_projections.leases import LeaseLost
from forze_projections.projection import Projection
from forze_projections.status import ProjectionProgress, ProjectionState

__all__ = ["Runners", "check_same_version"]

log = logging.getLogger("forze.projector")


class Runners:
    """The runs of one projector's projections, and their leases."""

    def __init__(
        self,
        events: EventStore,
        backend: ProjectionBackend,
        names: Iterable[str],
        *,
        owner: str,
        lease_seconds: float,
        loop: Callable[[], FeedLoop],
        progress: Callable[[], Callable[[ProjectionProgress], None] | None],
    ) -> None:
        self.events, self.backend = events, backend
        self.owner, self.lease_seconds = owner, lease_seconds
        self._loop, self._progress = loop, progress
        self.states = dict.fromkeys(names, ProjectionState.IDLE)
        self.errors: dict[str, ProjectionFailed] = {}
        self.crashes: dict[str, Exception] = {}
        """Errors outside any handler that stopped a projection (shown in its status)."""
        self.held: dict[str, HeldLease] = {}
        """The leases this projector's runs hold now, by projection name."""
        self.stopping = asyncio.Event()
        self._pulse = asyncio.Event()
        """Set (and replaced) after every committed batch: wakes the waits."""

    def error(self, name: str) -> Exception | None:
        """What stopped projection ``name`` here, if anything did."""
        return self.errors.get(name) or self.crashes.get(name)

    def batched(self, name: str) -> None:
        """Note that a batch of ``name`` committed (``FeedLoop.on_batch``)."""
        self._pulse.set()
        self._pulse = asyncio.Event()

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when a batch of this projector commits."""
        pulse = self._pulse
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pulse.wait(), seconds)

    async def serve(self, projection: Projection) -> None:
        """Stand by for the lease of ``projection``, run it while held, until stopped.

        Never raises but to cancellation: a projection that fails stops alone (``FAILED``)."""
        try:
            await self._serve(projection)
        except Exception as error:  # outside any run: a bug, or a backend that cannot work
            self.states[projection.name] = ProjectionState.FAILED
            self.crashes.setdefault(projection.name, error)
            log.exception("projection %s stopped", projection.name)

    async def _serve(self, projection: Projection) -> None:
        name = projection.name
        while not self.stopping.is_set():
            held = await self._standby(projection)
            if held is None:
                return
            try:
                async with self._holding(held):
                    await self._run(projection, held, follow=True)
                return
            except LeaseLost as lost:
                log.warning("projection %s: %s; standing by", name, lost)
                self.states[name] = ProjectionState.STANDBY
            except Exception:
                return  # stopped on a failure (recorded, in its status); the lease is released

    async def bring_up(self, projection: Projection, *, rebuild: int | None) -> None:
        """Bring ``projection`` to the head (having carried out rebuild request ``rebuild``):
        here when its lease is free, else by waiting for the runner holding it."""
        name = projection.name
        while True:
            local = self.held.get(name)
            if local is None:
                held = await self._take(projection)
                if held is not None:
                    try:
                        async with self._holding(held):
                            await self._run(projection, held, follow=False)
                        return
                    except LeaseLost as lost:
                        log.warning("projection %s: %s; waiting for its runner", name, lost)
                        continue
            if await self._await_runner(projection, rebuild, local):
                return

    @contextlib.asynccontextmanager
    async def _holding(self, held: HeldLease) -> AsyncIterator[None]:
        """Keep ``held`` (renewed, then released) and known as this projector's for the block."""
        self.held[held.name] = held
        try:
            async with held:
                yield
        finally:
            if self.held.get(held.name) is held:
                del self.held[held.name]

    async def _take(self, projection: Projection) -> HeldLease | None:
        return await HeldLease.take(
            self.backend.leases,
            projection.name,
            self.owner,
            projection.version,
            self.lease_seconds,
        )

    async def _standby(self, projection: Projection) -> HeldLease | None:
        """The projection's lease once this projector gets it; ``None`` when stopped first."""
        name, outages = projection.name, 0
        while not self.stopping.is_set():
            try:
                held = await self._take(projection)
            except EventStoreUnavailable as error:
                if not error.transient:
                    self.states[name] = ProjectionState.FAILED
                    self.crashes[name] = error
                    log.error("projection %s: cannot take its lease: %s", name, error)
                    return None
                outages += 1
                log.warning("projection %s: %s; asking for its lease again", name, error)
                await self._sleep(outage_delay(outages))
                continue
            if held is not None:
                return held
            outages = 0
            self.states[name] = ProjectionState.STANDBY
            await self._sleep(standby_pause(self.lease_seconds))
        return None

    async def _await_runner(
        self, projection: Projection, rebuild: int | None, local: HeldLease | None
    ) -> bool:
        """Wait for the runner holding ``projection`` (``local``: a run of this projector) to
        carry out ``rebuild`` and reach the head; ``False`` when it gave the lease up first.
        A runner elsewhere's progress goes to ``on_progress`` (``handled`` 0: unknown here)."""
        name, leases = projection.name, self.backend.leases
        head: int | None = None
        delay, seen, started = 0.002, -1, time.perf_counter()
        while not self.stopping.is_set():
            if local is not None:
                if self.held.get(name) is not local:
                    return False
            else:
                self.states[name] = ProjectionState.STANDBY
            lease = await leases.read(name)
            if lease is None or lease.holder is None:
                if local is None:
                    return False
            elif local is None:
                check_same_version(projection, lease.version, lease.holder)
            done = lease.rebuilds_done if lease is not None else 0
            if rebuild is None or done >= rebuild:
                if head is None:
                    head = await self.events.head_position()
                checkpoint = await self.backend.checkpoints.load(projection.checkpoint_name)
                report = self._progress()
                if checkpoint != seen and report is not None and local is None:
                    seen, elapsed = checkpoint, time.perf_counter() - started
                    version = projection.version
                    report(ProjectionProgress(name, version, checkpoint, head, 0, elapsed))
                if checkpoint >= head:
                    return True
            await self.pause(delay)
            delay = min(delay * 2, 0.1)
        return True

    async def _run(self, projection: Projection, held: HeldLease, *, follow: bool) -> None:
        await run_projection(
            self._loop(),
            projection,
            held,
            follow=follow,
            states=self.states,
            errors=self.errors,
            crashes=self.crashes,
        )

    async def _sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when the projector stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)


def check_same_version(projection: Projection, version: int, holder: str) -> None:
    """Refuse to wait on (or ask a rebuild of) a runner of another version of ``projection``."""
    if version != projection.version:
        raise InvalidInputError(
            f"projection {projection.name!r} is run by {holder} at version {version}, and this"
            f" projector has version {projection.version}: rebuild or catch up from a process"
            f" running version {version}, or stop that runner first"
        )
