"""``HeldLease``: a projection lease this runner holds, renewed in the background."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from types import TracebackType

from forze.domain.errors import EventStoreUnavailable
from forze_eventstore.adapter_kit import raise_if_cancelled
from forze_projections.leases import Lease, LeaseLost, ProjectionLeases

__all__ = ["HeldLease", "standby_pause"]

log = logging.getLogger("forze.projector")


def standby_pause(seconds: float) -> float:
    """How long a standby waits before asking for a lease of ``seconds`` again (jittered, so
    standbys started together do not ask in step)."""
    return seconds / 4 * random.uniform(0.75, 1.25)


class HeldLease:
    """A lease taken by ``owner``: ``async with`` renews it every third of its duration until
    the block ends, then releases it (a standby takes over at once).

    ``changed`` is set when something needs the runner's attention: the lease was lost (another
    runner holds it, or it could not be renewed before it lapsed) or a rebuild was requested.
    ``fence`` holds the lease inside the caller's unit of work (``ProjectionLeases.hold``).
    """

    def __init__(self, leases: ProjectionLeases, lease: Lease, owner: str, seconds: float) -> None:
        self.leases, self.latest, self.owner, self.seconds = leases, lease, owner, seconds
        self.name = lease.name
        self.lost = False
        self.changed = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None

    @classmethod
    async def take(
        cls, leases: ProjectionLeases, name: str, owner: str, version: int, seconds: float
    ) -> HeldLease | None:
        """The lease of ``name`` if ``owner`` could take it, else ``None``."""
        lease = await leases.acquire(name, owner, version, seconds)
        return None if lease is None else cls(leases, lease, owner, seconds)

    def note(self, lease: Lease) -> None:
        """Keep what a renewal or a fence read of the lease (rebuild requests)."""
        self.latest = lease
        if lease.rebuild_pending:
            self.changed.set()

    async def fence(self) -> None:
        """Inside a unit of work: hold the lease, or raise ``LeaseLost`` so the unit rolls back."""
        try:
            self.note(await self.leases.hold(self.name, self.owner, self.seconds))
        except LeaseLost:
            self._lose()
            raise

    def check(self) -> None:
        """Raise ``LeaseLost`` if the lease is known to be lost."""
        if self.lost:
            raise LeaseLost(f"runner {self.owner!r} lost the lease of projection {self.name!r}")

    async def __aenter__(self) -> HeldLease:
        self._keeper = asyncio.create_task(self._keep(), name=f"lease {self.name}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        if not self.lost:
            try:
                await self.leases.release(self.name, self.owner)
            except EventStoreUnavailable as error:  # it lapses on its own
                log.warning("projection %s: lease not released: %s", self.name, error)

    async def _keep(self) -> None:
        renewed = time.monotonic()
        while not self.lost:
            raise_if_cancelled()  # a driver's wait_for may have swallowed the cancel (3.11)
            await asyncio.sleep(self.seconds / 3)
            try:
                self.note(await self.leases.hold(self.name, self.owner, self.seconds))
                renewed = time.monotonic()
            except LeaseLost as error:
                log.warning("projection %s: %s", self.name, error)
                self._lose()
            except EventStoreUnavailable as error:
                if time.monotonic() - renewed >= self.seconds:
                    log.warning("projection %s: lease lapsed unrenewed: %s", self.name, error)
                    self._lose()
                else:
                    log.warning("projection %s: lease not renewed yet: %s", self.name, error)

    def _lose(self) -> None:
        self.lost = True
        self.changed.set()
