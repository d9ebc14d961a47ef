"""A projection's run under its lease: retries, back-off, rebuild requests and its state.

``run_projection`` wraps ``FeedLoop.follow`` with what the ``Projector`` promises: the failure
policy, back-off on passing store outages, rebuilds carried out when requested, and the state
and error shown in the projection's status.
"""

from __future__ import annotations

import asyncio
import logging
import time

from forze.domain.errors import EventStoreUnavailable
from forze.execution import Backoff
from forze_eventstore import outage_delay
from forze_projections._batches import failure_record
from forze_projections._feed_loop import FeedLoop, RebuildRequested
from forze_projections._held_lease import HeldLease
from forze_projections.backend import ProjectionBackend
from forze_projections.errors import ProjectionFailed
from forze_projections.leases import LeaseLost
from forze_projections.projection import Projection
from forze_projections.status import ProjectionState

__all__ = ["run_projection", "start_over"]

log = logging.getLogger("forze.projector")

_NEW_OUTAGE_AFTER = 5.0
"""Seconds of work after which a store failure starts a new count of failures in a row."""


async def start_over(
    backend: ProjectionBackend, projection: Projection, held: HeldLease, *, number: int | None
) -> None:
    """Forget ``projection``'s checkpoint and documents in one unit that holds its lease, and
    record rebuild request ``number`` as carried out."""
    async with backend.unit():
        await held.fence()
        await backend.checkpoints.reset(projection.checkpoint_name)
        await backend.drop(projection.name, projection.version)
        if number is not None:
            await backend.leases.finish_rebuild(projection.name, held.owner, number)


async def run_projection(
    loop: FeedLoop,
    projection: Projection,
    held: HeldLease,
    *,
    follow: bool,
    states: dict[str, ProjectionState],
    errors: dict[str, ProjectionFailed],
    crashes: dict[str, Exception],
) -> None:
    """Run ``projection`` while ``held``: to the head, then (``follow``) live until stopped.

    Raises ``LeaseLost`` when another runner took over, the ``ProjectionFailed`` that the
    policy stopped on, and (not following) a transient ``EventStoreUnavailable``.
    """
    name, policy, backend = projection.name, loop.policy, loop.backend
    errors.pop(name, None)
    crashes.pop(name, None)
    states[name] = ProjectionState.CATCHING_UP
    attempts, failed_after = 0, -1
    unavailable = 0  # failures in a row of the store

    def live() -> None:
        states[name] = ProjectionState.LIVE

    try:
        while True:
            started = time.monotonic()
            try:
                await loop.follow(projection, held, follow=follow, on_live=live)
                states[name] = ProjectionState.STOPPED
                return
            except RebuildRequested:
                number = held.latest.rebuilds_requested
                log.info("projection %s: rebuilding, as requested (request %d)", name, number)
                await start_over(backend, projection, held, number=number)
                states[name] = ProjectionState.CATCHING_UP
                continue
            except EventStoreUnavailable as error:
                if not error.transient:
                    raise  # stopped below, as any failure no policy covers
                if not follow:
                    states[name] = ProjectionState.STOPPED
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
                checkpoint = await backend.checkpoints.load(projection.checkpoint_name)
                if checkpoint != failed_after:
                    attempts, failed_after = 0, checkpoint
                attempts += 1
                if policy.on_error == "retry" and attempts <= policy.retries:
                    delay = Backoff(policy.backoff, policy.max_backoff).delay(attempts)
                    log.warning("%s; retry %d in %.2f s", failure, attempts, delay)
                    await asyncio.sleep(delay)
                    continue
                states[name] = ProjectionState.FAILED
                errors[name] = failure
                await backend.record_failure(failure_record(failure))
                log.error("%s; projection stopped", failure)
                raise
    except asyncio.CancelledError:
        states[name] = ProjectionState.STOPPED
        raise
    except LeaseLost:
        states[name] = ProjectionState.STANDBY
        raise
    except Exception as error:
        transient = isinstance(error, EventStoreUnavailable) and error.transient
        if not isinstance(error, ProjectionFailed) and not transient:
            # a failure no policy covers (a bug, a broken backend): stopped, never silently
            states[name] = ProjectionState.FAILED
            crashes[name] = error
            log.exception("projection %s stopped", name)
        raise
