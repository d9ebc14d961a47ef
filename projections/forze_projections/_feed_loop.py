"""One run of one feed consumer's work over the feed, under its lease.

From the checkpoint to the head in pages, each handed to the work (``FeedRun.apply``), which
saves it with its checkpoint in a unit that holds the lease; then, when following, the live
feed. The loop returns when asked to stop, raises ``LeaseLost`` when another runner took the
work over and ``RebuildRequested`` when a rebuild request reached the lease.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from forze.contracts import CutPage, EventStore, RecordedEvent, Telemetry
from forze_projections._feed_work import FeedWork
from forze_projections._held_lease import HeldLease
from forze_projections.status import ProjectionProgress

__all__ = ["FeedLoop", "RebuildRequested"]


_WIND_DOWN_SECONDS = 2.0
"""How long a stopping loop waits for its cancelled feed read to end."""

log = logging.getLogger("forze.projector")


class RebuildRequested(Exception):
    """A rebuild was requested for the work this runner holds: start again from 0."""


@dataclass(slots=True)
class FeedLoop:
    """The settings one feed consumer (a projector, a relay) gives every run of its works."""

    events: EventStore
    batch_size: int
    page_bytes: int
    stopping: asyncio.Event
    on_progress: Callable[[ProjectionProgress], None] | None
    on_batch: Callable[[str], None]
    """Called with the work's name after each committed batch."""
    telemetry: Telemetry | None = None
    """Observes each batch (``Telemetry.batch``), if given."""
    kind: str = "projector"
    """What the works are, as the telemetry hears it: ``projector``, ``relay`` or ``saga``."""

    async def follow(
        self,
        work: FeedWork,
        held: HeldLease,
        *,
        follow: bool,
        on_live: Callable[[], None],
    ) -> None:
        """Run ``work`` from its checkpoint to the head, then (``follow``) live until
        ``stopping`` is set; ``on_live`` is called each time it reaches the head."""
        run = await work.begin(held)
        reached = False  # whether this run reached the head yet (the work hears it once)
        position = await work.checkpoint()
        started, handled = time.perf_counter(), 0
        # The next page is read while this one is applied (the server reads as we write).
        ahead: asyncio.Future[tuple[int, Sequence[RecordedEvent]]] | None = None
        try:
            while not self.stopping.is_set():
                _attend(held)
                if ahead is None:
                    ahead = asyncio.ensure_future(self._page(work, position))
                (head, page), ahead = await ahead, None
                caught_up = len(page) < self.batch_size and not isinstance(page, CutPage)
                scanned = max(page[-1].position if page else position, head if caught_up else 0)
                if not caught_up:
                    ahead = asyncio.ensure_future(self._page(work, scanned))
                moved = scanned > position
                if moved or (caught_up and not reached):
                    first = caught_up and not reached
                    if self.telemetry is None:
                        await run.apply(page, position, scanned, reached=first)
                    else:
                        with self.telemetry.batch(self.kind, work.name, len(page), scanned, head):
                            await run.apply(page, position, scanned, reached=first)
                    reached = reached or caught_up
                    handled += len(page)
                    position = scanned
                    self.on_batch(work.name)
                    if moved and self.on_progress is not None:
                        elapsed = time.perf_counter() - started
                        self.on_progress(
                            ProjectionProgress(
                                work.name, work.version, position, head, handled, elapsed
                            )
                        )
                if not caught_up:
                    continue
                if not follow:
                    return
                on_live()
                await self._wait_for_events(position, held)
        finally:
            if ahead is not None:
                ahead.cancel()
                ahead.add_done_callback(_retrieve)

    async def _page(self, work: FeedWork, after: int) -> tuple[int, Sequence[RecordedEvent]]:
        """The head (read first), then the next page of the work's events after ``after``."""
        head = await self.events.head_position()
        page = await self.events.read_all(
            after=after,
            limit=self.batch_size,
            event_types=work.event_types,
            categories=work.categories,
            max_bytes=self.page_bytes,
        )
        return head, page

    async def _wait_for_events(self, position: int, held: HeldLease) -> None:
        """Until an event after ``position`` arrives, a stop, or the lease needs attention.

        Woken by events of any type, so that events the work does not read still move its
        checkpoint (and lag) to the head."""
        feed = self.events.subscribe(after=position)
        waits = [
            asyncio.ensure_future(anext(feed)),
            asyncio.ensure_future(self.stopping.wait()),
            asyncio.ensure_future(held.changed.wait()),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
            # A store's read cancelled mid-flight may take a moment to wind down (PostgreSQL
            # cancels the statement on the server); a read that does not end in time is left
            # to finish in the background rather than holding the projector's stop.
            arrival = waits[0]
            await asyncio.wait({arrival}, timeout=_WIND_DOWN_SECONDS)
            if arrival.done():
                _retrieve(arrival)
                await feed.aclose()
            else:
                log.warning("a cancelled feed read did not end within %.0f s", _WIND_DOWN_SECONDS)
                arrival.add_done_callback(_retrieve)


def _attend(held: HeldLease) -> None:
    """Raise what the lease asks for: ``LeaseLost``, or ``RebuildRequested``."""
    held.check()
    if held.latest.rebuild_pending:
        raise RebuildRequested(held.name)
    held.changed.clear()


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark an abandoned read's outcome as seen (no "exception never retrieved" warning)."""
    if not future.cancelled():
        future.exception()  # StopAsyncIteration, or the read's error: seen, not raised
