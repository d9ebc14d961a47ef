"""``Projector``: runs projections over the feed from their checkpoints, then follows it live."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from forze.contracts import CutPage, EventStore, RecordedEvent
from forze.domain.errors import EventStoreUnavailable, InvalidInputError
from forze_eventstore import DEFAULT_LIMITS, outage_delay
from forze_projections._batches import apply_batch, failure_record, note_empty
from forze_projections.backend import ProjectionBackend
from forze_projections.buffered import DocumentCache
from forze_projections.errors import ProjectionFailed
from forze_projections.projection import Projection
from forze_projections.status import (
    FailurePolicy,
    ProjectionProgress,
    ProjectionState,
    ProjectionStatus,
)

__all__ = ["ProgressCallback", "Projector"]

ProgressCallback = Callable[[ProjectionProgress], None]
"""Receives a ``ProjectionProgress`` after every batch."""

STOP_ON_ERROR = FailurePolicy()
log = logging.getLogger("forze.projector")

_NEW_OUTAGE_AFTER = 5.0
"""Seconds of work after which a store failure starts a new count of failures in a row."""


class Projector:
    """Runs projections in checkpointed batches: catch up from the checkpoint, then go live.

    Each batch's read-model writes and its checkpoint commit in one unit of work of the
    backend, so a projector killed mid-batch resumes with exactly the state of an uninterrupted
    run. A projection whose live version is older builds its own copy from the start and becomes
    live in the unit that reaches the head (the old version serves until then). A failing
    projection stops alone (see ``FailurePolicy``); the others keep running.

    A transient ``EventStoreUnavailable`` (the event store or the read-model backend cannot
    be reached, from a handler too) is never the event's fault, so no policy applies to it:
    the batch rolls back, and a following projection (``run``, ``async with``) resumes from
    its checkpoint after a back-off (0.05 s, doubled after each failure in a row, up to 5 s;
    logged), while ``catch_up`` and ``rebuild`` raise it. A failure the backend would repeat
    stops the projection (``FAILED``, the error in its status); from a handler, the policy
    applies to it.

    A batch is at most ``batch_size`` events and stops early once their data and metadata
    JSON reach ``page_bytes`` (at least one event), so large events cannot exhaust memory.
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
    ) -> None:
        names = [p.name for p in projections]
        if len(set(names)) != len(names):
            raise InvalidInputError(f"projections must have distinct names, got {names}")
        if batch_size < 1:
            raise InvalidInputError("batch_size must be >= 1")
        if page_bytes < 1:
            raise InvalidInputError("page_bytes must be >= 1")
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
        self._states = dict.fromkeys(names, ProjectionState.IDLE)
        self._errors: dict[str, ProjectionFailed] = {}
        self._crashes: dict[str, Exception] = {}
        """Errors outside any handler that stopped a projection (shown in its status)."""
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._runs = 0
        """How many ``run``/``async with`` runs follow the feed now (``stop`` ends them)."""
        for projection in projections:
            backend.claim(projection.name, projection.read_models)

    async def catch_up(self) -> dict[str, ProjectionStatus]:
        """Bring every projection to the current head, then return their status.

        Raises the first ``ProjectionFailed`` of a projection that stopped on an error, after
        every other projection has caught up. Works after an earlier run was stopped.
        """
        self._forget_old_stop()
        results = await asyncio.gather(
            *(self._run(p, follow=False) for p in self.projections.values()),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return {status.name: status for status in await self.status()}

    async def run(self) -> None:
        """Catch up, then follow the feed until :meth:`stop`; failed projections stop alone."""
        self._stopping.clear()
        self._runs += 1
        try:
            await asyncio.gather(
                *(self._run(p, follow=True) for p in self.projections.values()),
                return_exceptions=True,
            )
        finally:
            self._runs -= 1

    def _forget_old_stop(self) -> None:
        """Let a catch-up or rebuild run after an earlier run was stopped (a stop asked while
        a run still follows the feed ends this work too)."""
        if self._runs == 0:
            self._stopping.clear()

    def stop(self) -> None:
        """Finish the batches in flight, then stop every projection."""
        self._stopping.set()

    async def __aenter__(self) -> Projector:
        self._stopping.clear()
        self._runs += 1
        self._tasks = [
            asyncio.ensure_future(self._run(p, follow=True)) for p in self.projections.values()
        ]
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
        return self._errors.get(name)

    async def reset(self, name: str) -> None:
        """Forget the checkpoint and documents of ``name``'s version, so it rebuilds from 0."""
        projection = self._projection(name)
        async with self.backend.unit():
            await self.backend.checkpoints.reset(projection.checkpoint_name)
            await self.backend.drop(projection.name, projection.version)
        self._errors.pop(name, None)

    async def rebuild(self, name: str) -> ProjectionStatus:
        """Reset ``name``'s version and build it from the start of the feed to the head.

        The documents readers see stay those of the live version until the rebuilt one is
        caught up, unless the rebuilt version is itself the live one (then readers see it fill).
        Works after an earlier run was stopped.
        """
        self._forget_old_stop()
        await self.reset(name)
        await self._run(self._projection(name), follow=False)
        (status,) = [s for s in await self.status() if s.name == name]
        return status

    async def status(self) -> list[ProjectionStatus]:
        """Checkpoint, lag (events and seconds behind the head), state and error of each."""
        head = await self.events.head_position()
        found = []
        for projection in self.projections.values():
            checkpoint = await self.backend.checkpoints.load(projection.checkpoint_name)
            lag_seconds = 0.0
            if checkpoint < head:
                waiting = await self.events.read_all(
                    after=checkpoint, limit=1, event_types=projection.event_types
                )
                if waiting:
                    lag_seconds = (datetime.now(UTC) - waiting[0].recorded_at).total_seconds()
            error = self._errors.get(projection.name) or self._crashes.get(projection.name)
            found.append(
                ProjectionStatus(
                    name=projection.name,
                    version=projection.version,
                    live_version=await self.backend.live_version(projection.name),
                    checkpoint=checkpoint,
                    head=head,
                    lag_events=await self.events.count_events(after=checkpoint),
                    lag_seconds=max(0.0, lag_seconds),
                    state=self._states[projection.name],
                    error=None if error is None else str(error),
                )
            )
        return found

    def _projection(self, name: str) -> Projection:
        try:
            return self.projections[name]
        except KeyError:
            known = ", ".join(sorted(self.projections)) or "none"
            raise InvalidInputError(f"no projection named {name!r} (known: {known})") from None

    async def _run(self, projection: Projection, *, follow: bool) -> None:
        name = projection.name
        self._errors.pop(name, None)
        self._crashes.pop(name, None)
        self._states[name] = ProjectionState.CATCHING_UP
        attempts, failed_after = 0, -1
        unavailable = 0  # failures in a row of the store
        try:
            while True:
                started = time.monotonic()
                try:
                    await self._follow(projection, follow=follow)
                    self._states[name] = ProjectionState.STOPPED
                    return
                except EventStoreUnavailable as error:
                    if not error.transient:
                        raise  # stopped below, as any failure no policy covers
                    if not follow:
                        self._states[name] = ProjectionState.STOPPED
                        raise
                    if time.monotonic() - started > _NEW_OUTAGE_AFTER:
                        unavailable = 0  # it ran a while: a new outage
                    unavailable += 1
                    delay = outage_delay(unavailable)
                    log.warning("projection %s: %s; resuming in %.2f s", name, error, delay)
                    await asyncio.sleep(delay)
                    continue
                except ProjectionFailed as failure:
                    # Retries are counted per failing batch: progress since the last failure
                    # (a later checkpoint) starts a new count.
                    checkpoint = await self.backend.checkpoints.load(projection.checkpoint_name)
                    if checkpoint != failed_after:
                        attempts, failed_after = 0, checkpoint
                    attempts += 1
                    if self.policy.on_error == "retry" and attempts <= self.policy.retries:
                        delay = min(
                            self.policy.max_backoff, self.policy.backoff * 2 ** (attempts - 1)
                        )
                        log.warning("%s; retry %d in %.2f s", failure, attempts, delay)
                        await asyncio.sleep(delay)
                        continue
                    self._states[name] = ProjectionState.FAILED
                    self._errors[name] = failure
                    await self.backend.record_failure(failure_record(failure))
                    log.error("%s; projection stopped", failure)
                    raise
        except asyncio.CancelledError:
            self._states[name] = ProjectionState.STOPPED
            raise
        except Exception as error:
            transient = isinstance(error, EventStoreUnavailable) and error.transient
            if not isinstance(error, ProjectionFailed) and not transient:
                # a failure no policy covers (a bug, a broken backend): stopped, never silently
                self._states[name] = ProjectionState.FAILED
                self._crashes[name] = error
                log.exception("projection %s stopped", name)
            raise

    async def _follow(self, projection: Projection, *, follow: bool) -> None:
        name, version = projection.name, projection.version
        live = await self.backend.live_version(name)
        if live is None:
            async with self.backend.unit():
                await self.backend.set_live(name, version)
            live = version
        cut_over = live < version
        reached = False  # whether this run reached the head yet (the backend hears it once)
        position = await self.backend.checkpoints.load(projection.checkpoint_name)
        cache = DocumentCache(self.cache_size)
        if position == 0:
            await note_empty(self.backend, projection, cache)
        started, handled = time.perf_counter(), 0
        # The next page is read while this one is applied (the server reads as we write).
        ahead: asyncio.Future[tuple[int, Sequence[RecordedEvent]]] | None = None
        try:
            while not self._stopping.is_set():
                if ahead is None:
                    ahead = asyncio.ensure_future(self._page(projection, position))
                (head, page), ahead = await ahead, None
                caught_up = len(page) < self.batch_size and not isinstance(page, CutPage)
                scanned = max(page[-1].position if page else position, head if caught_up else 0)
                if not caught_up:
                    ahead = asyncio.ensure_future(self._page(projection, scanned))
                moved = scanned > position or (caught_up and cut_over)
                if moved or (caught_up and not reached):
                    await apply_batch(
                        self.backend,
                        self.policy,
                        projection,
                        page,
                        position,
                        scanned,
                        cache,
                        go_live=cut_over and caught_up,
                        reached=caught_up and not reached,
                    )
                    cut_over = cut_over and not caught_up
                    reached = reached or caught_up
                    handled += len(page)
                    position = scanned
                    if moved and self.on_progress is not None:
                        elapsed = time.perf_counter() - started
                        self.on_progress(
                            ProjectionProgress(name, version, position, head, handled, elapsed)
                        )
                if not caught_up:
                    continue
                if not follow:
                    return
                self._states[name] = ProjectionState.LIVE
                await self._wait_for_events(position)
        finally:
            if ahead is not None:
                ahead.cancel()
                ahead.add_done_callback(_retrieve)

    async def _page(
        self, projection: Projection, after: int
    ) -> tuple[int, Sequence[RecordedEvent]]:
        """The head (read first), then the next batch of the projection's events after ``after``."""
        head = await self.events.head_position()
        page = await self.events.read_all(
            after=after,
            limit=self.batch_size,
            event_types=projection.event_types,
            max_bytes=self.page_bytes,
        )
        return head, page

    async def _wait_for_events(self, position: int) -> None:
        # Woken by events of any type, so that events the projection does not handle still
        # move its checkpoint (and lag) to the head.
        feed = self.events.subscribe(after=position)
        arrival = asyncio.ensure_future(anext(feed))
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({arrival, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (arrival, stopping):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await arrival
            await feed.aclose()


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark an abandoned read's outcome as seen (no "exception never retrieved" warning)."""
    if not future.cancelled():
        future.exception()
