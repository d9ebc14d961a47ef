"""Who runs each work of a feed consumer (a projector's projections, a relay): the holder of
its lease, here or elsewhere.

``Runners`` keeps, per work, the state and errors shown in its status (what stopped it; the
last error met, even one it recovered from) and the lease this consumer holds. ``serve`` stands
by for the lease and runs the work while it holds it (``run``, ``async with``); ``bring_up``
runs it to the head here when the lease is free, or waits for the runner that holds it
(``catch_up``, ``rebuild``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime

from forze.contracts import EventStore
from forze.domain.errors import EventStoreUnavailable, InvalidInputError
from forze_eventstore.adapter_kit import outage_delay
from forze_projections._feed_loop import FeedLoop
from forze_projections._feed_work import FeedWork
from forze_projections._held_lease import HeldLease, standby_pause
from forze_projections._run_work import run_work
from forze_projections._states import States
from forze_projections.errors import EventFailed
from forze_projections.leases import LeaseLost, ProjectionLeases
from forze_projections.status import ProjectionProgress, ProjectionState

__all__ = ["Runners", "check_same_version"]

log = logging.getLogger("forze.projector")


class Runners:
    """The runs of one feed consumer's works, and their leases."""

    def __init__(
        self,
        events: EventStore,
        leases: ProjectionLeases,
        names: Iterable[str],
        *,
        owner: str,
        lease_seconds: float,
        loop: Callable[[], FeedLoop],
        progress: Callable[[], Callable[[ProjectionProgress], None] | None],
    ) -> None:
        self.events, self.leases = events, leases
        self.owner, self.lease_seconds = owner, lease_seconds
        self._loop, self._progress = loop, progress
        self.states = States(names)
        self.errors: dict[str, EventFailed] = {}
        """Failures on an event that stopped a work (its policy gave up)."""
        self.crashes: dict[str, Exception] = {}
        """Errors outside any handler that stopped a work (shown in its status)."""
        self.last_errors: dict[str, tuple[str, datetime]] = {}
        """The last error each work met here and when: a passing outage it retries, a page it
        retried, or what stopped it. Kept after the work recovers; a later error replaces it."""
        self.held: dict[str, HeldLease] = {}
        """The leases this consumer's runs hold now, by work name."""
        self.stopping = asyncio.Event()
        self._pulse = asyncio.Event()
        """Set (and replaced) after every committed batch: wakes the waits."""

    def error(self, name: str) -> Exception | None:
        """What stopped work ``name`` here, if anything did."""
        return self.errors.get(name) or self.crashes.get(name)

    def note(self, name: str, error: BaseException) -> None:
        """Keep ``error`` as the last error work ``name`` met, with the time."""
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        self.last_errors[name] = (text, datetime.now(UTC))

    def batched(self, name: str) -> None:
        """Note that a batch of ``name`` committed (``FeedLoop.on_batch``)."""
        self._pulse.set()
        self._pulse = asyncio.Event()

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when a batch of this projector commits."""
        pulse = self._pulse
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pulse.wait(), seconds)

    async def serve(self, work: FeedWork) -> None:
        """Stand by for the lease of ``work``, run it while held, until stopped.

        Never raises but to cancellation: a work that fails stops alone (``FAILED``)."""
        try:
            await self._serve(work)
        except Exception as error:  # outside any run: a bug, or a backend that cannot work
            self.states.move(work.name, ProjectionState.FAILED)
            self.crashes.setdefault(work.name, error)
            self.note(work.name, error)
            log.exception("%s stopped", work.name)

    async def _serve(self, work: FeedWork) -> None:
        name = work.name
        while not self.stopping.is_set():
            held = await self._standby(work)
            if held is None:
                return
            try:
                async with self._holding(held):
                    await self._run(work, held, follow=True)
                return
            except LeaseLost as lost:
                log.warning("%s: %s; standing by", name, lost)
                self.states.move(name, ProjectionState.STANDBY)
            except Exception:
                return  # stopped on a failure (recorded, in its status); the lease is released

    async def bring_up(self, work: FeedWork, *, rebuild: int | None) -> None:
        """Bring ``work`` to the head (having carried out rebuild request ``rebuild``):
        here when its lease is free, else by waiting for the runner holding it."""
        name = work.name
        while True:
            local = self.held.get(name)
            if local is None:
                held = await self._take(work)
                if held is not None:
                    try:
                        async with self._holding(held):
                            await self._run(work, held, follow=False)
                        return
                    except LeaseLost as lost:
                        log.warning("%s: %s; waiting for its runner", name, lost)
                        continue
            if await self._await_runner(work, rebuild, local):
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

    async def _take(self, work: FeedWork) -> HeldLease | None:
        return await HeldLease.take(
            self.leases,
            work.name,
            self.owner,
            work.version,
            self.lease_seconds,
        )

    async def _standby(self, work: FeedWork) -> HeldLease | None:
        """The work's lease once this consumer gets it; ``None`` when stopped first."""
        name, outages = work.name, 0
        while not self.stopping.is_set():
            try:
                held = await self._take(work)
            except EventStoreUnavailable as error:
                self.note(name, error)
                if not error.transient:
                    self.states.move(name, ProjectionState.FAILED)
                    self.crashes[name] = error
                    log.error("%s: cannot take its lease: %s", name, error)
                    return None
                outages += 1
                log.warning("%s: %s; asking for its lease again", name, error)
                await self._sleep(outage_delay(outages))
                continue
            if held is not None:
                return held
            outages = 0
            self.states.move(name, ProjectionState.STANDBY)
            await self._sleep(standby_pause(self.lease_seconds))
        return None

    async def _await_runner(
        self, work: FeedWork, rebuild: int | None, local: HeldLease | None
    ) -> bool:
        """Wait for the runner holding ``work`` (``local``: a run of this consumer) to
        carry out ``rebuild`` and reach the head; ``False`` when it gave the lease up first.
        A runner elsewhere's progress goes to ``on_progress`` (``handled`` 0: unknown here)."""
        name, leases = work.name, self.leases
        head: int | None = None
        delay, seen, started = 0.002, -1, time.perf_counter()
        while not self.stopping.is_set():
            if local is not None:
                if self.held.get(name) is not local:
                    return False
            else:
                self.states.move(name, ProjectionState.STANDBY)
            lease = await leases.read(name)
            if lease is None or lease.holder is None:
                if local is None:
                    return False
            elif local is None:
                check_same_version(work, lease.version, lease.holder)
            done = lease.rebuilds_done if lease is not None else 0
            if rebuild is None or done >= rebuild:
                if head is None:
                    head = await self.events.head_position()
                checkpoint = await work.checkpoint()
                report = self._progress()
                if checkpoint != seen and report is not None and local is None:
                    seen, elapsed = checkpoint, time.perf_counter() - started
                    version = work.version
                    report(ProjectionProgress(name, version, checkpoint, head, 0, elapsed))
                if checkpoint >= head:
                    return True
            await self.pause(delay)
            delay = min(delay * 2, 0.1)
        return True

    async def _run(self, work: FeedWork, held: HeldLease, *, follow: bool) -> None:
        await run_work(
            self._loop(),
            work,
            held,
            follow=follow,
            states=self.states,
            errors=self.errors,
            crashes=self.crashes,
            note=self.note,
        )

    async def _sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when the projector stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)


def check_same_version(work: FeedWork, version: int, holder: str) -> None:
    """Refuse to wait on (or ask a rebuild of) a runner of another version of ``work``."""
    if version != work.version:
        raise InvalidInputError(
            f"{work.name!r} is run by {holder} at version {version}, and this"
            f" projector has version {work.version}: rebuild or catch up from a process"
            f" running version {version}, or stop that runner first"
        )
