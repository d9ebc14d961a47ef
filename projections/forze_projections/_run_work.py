"""A work's run under its lease: retries, back-off, rebuild requests and its state.

``run_work`` wraps ``FeedLoop.follow`` with what every feed consumer promises: the failure
policy, back-off on passing outages (the store's or a broker's), rebuilds carried out when
requested, and the state and error shown in its status.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from forze.execution import Backoff
from forze_eventstore.adapter_kit import outage_delay
from forze_projections._feed_loop import FeedLoop, RebuildRequested
from forze_projections._feed_work import FeedWork, is_transient
from forze_projections._held_lease import HeldLease
from forze_projections._states import States
from forze_projections.errors import EventFailed
from forze_projections.leases import LeaseLost
from forze_projections.status import ProjectionState

__all__ = ["run_work"]

log = logging.getLogger("forze.projector")

_NEW_OUTAGE_AFTER = 5.0
"""Seconds of work after which an outage starts a new count of failures in a row."""


async def run_work(
    loop: FeedLoop,
    work: FeedWork,
    held: HeldLease,
    *,
    follow: bool,
    states: States,
    errors: dict[str, EventFailed],
    crashes: dict[str, Exception],
    note: Callable[[str, BaseException], None],
) -> None:
    """Run ``work`` while ``held``: to the head, then (``follow``) live until stopped.

    Every error it meets, retried or not, goes to ``note`` (the status's ``last_error``).

    Raises ``LeaseLost`` when another runner took over, the ``EventFailed`` that the policy
    stopped on, and (not following) a transient outage.
    """
    name, policy = work.name, work.policy
    errors.pop(name, None)
    crashes.pop(name, None)
    states.move(name, ProjectionState.CATCHING_UP)
    attempts, failed_after = 0, -1
    outages = 0  # passing outages in a row

    def live() -> None:
        states.move(name, ProjectionState.LIVE)

    try:
        while True:
            started = time.monotonic()
            try:
                await loop.follow(work, held, follow=follow, on_live=live)
                states.move(name, ProjectionState.STOPPED)
                return
            except RebuildRequested:
                number = held.latest.rebuilds_requested
                log.info("%s: rebuilding, as requested (request %d)", name, number)
                await work.start_over(held, number)
                states.move(name, ProjectionState.CATCHING_UP)
                continue
            except EventFailed as failure:
                note(name, failure)
                # Retries are counted per failing page: progress since the last failure (a
                # later checkpoint) starts a new count.
                checkpoint = await work.checkpoint()
                if checkpoint != failed_after:
                    attempts, failed_after = 0, checkpoint
                attempts += 1
                if policy.on_error == "retry" and attempts <= policy.retries:
                    delay = Backoff(policy.backoff, policy.max_backoff).delay(attempts)
                    log.warning("%s; retry %d in %.2f s", failure, attempts, delay)
                    await asyncio.sleep(delay)
                    continue
                states.move(name, ProjectionState.FAILED)
                errors[name] = failure
                await work.record_failure(failure)
                log.error("%s; %s stopped", failure, name)
                raise
            except Exception as error:
                note(name, error)
                if not is_transient(error):
                    raise  # stopped below, as any failure no policy covers
                if not follow:
                    states.move(name, ProjectionState.STOPPED)
                    raise
                if time.monotonic() - started > _NEW_OUTAGE_AFTER:
                    outages = 0  # it ran a while: a new outage
                outages += 1
                delay = outage_delay(outages)
                log.warning("%s: %s; resuming in %.2f s", name, error, delay)
                states.move(name, ProjectionState.CATCHING_UP)
                await asyncio.sleep(delay)
                continue
    except asyncio.CancelledError:
        states.move(name, ProjectionState.STOPPED)
        raise
    except LeaseLost:
        states.move(name, ProjectionState.STANDBY)
        raise
    except Exception as error:
        if not isinstance(error, EventFailed) and not is_transient(error):
            # a failure no policy covers (a bug, a broken backend): stopped, never silently
            states.move(name, ProjectionState.FAILED)
            crashes[name] = error
            note(name, error)
            log.exception("%s stopped", name)
        raise
