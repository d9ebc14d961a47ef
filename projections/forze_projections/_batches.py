"""One projector batch: a page of events applied in one unit of work of the backend, with
the checkpoint that records it (see ``Projector``)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from forze.adapter_kit import LoopTurns
from forze.contracts import Query, ReadModelStores, RecordedEvent
from forze.domain.errors import EventStoreUnavailable
from forze_projections.backend import ProjectionBackend
from forze_projections.buffered import BufferedReadModelStores, DocumentCache
from forze_projections.errors import EventFailed, ProjectionFailed, ProjectionFailure
from forze_projections.projection import Projection
from forze_projections.status import FailurePolicy

__all__ = ["apply_batch", "failure_record", "note_empty"]

log = logging.getLogger("forze.projector")


async def note_empty(
    backend: ProjectionBackend, projection: Projection, cache: DocumentCache
) -> None:
    """Mark the read models a projection starting from 0 finds empty as complete."""
    writer = backend.writer(projection.name, projection.version)
    for spec in projection.read_models:
        if not (await writer(spec).find(Query(limit=1))).items:
            cache.mark_complete(spec.name)


async def apply_batch(
    backend: ProjectionBackend,
    policy: FailurePolicy,
    projection: Projection,
    page: Sequence[RecordedEvent],
    after: int,
    scanned: int,
    cache: DocumentCache,
    *,
    go_live: bool,
    reached: bool,
    fence: Callable[[], Awaitable[None]],
) -> None:
    """Apply ``page`` and save ``scanned`` as the checkpoint in one unit of work, which first
    calls ``fence`` (it holds the projection's lease, or raises and the unit commits nothing)."""
    skip = policy.on_error == "skip"
    direct = backend.writer(projection.name, projection.version)
    try:
        async with backend.unit():
            await fence()
            # Re-read inside the unit: events another writer of this checkpoint (an inline
            # hook, a second projector process) applied since the page was read are
            # skipped, and what this projector cached may be stale.
            done = await backend.checkpoints.load(projection.checkpoint_name)
            if done != after:
                cache.clear()
            # Batched writes, except where a savepoint must undo exactly one event's.
            buffered = None if skip else BufferedReadModelStores(direct, cache)
            await _handle(
                backend, policy, projection, page, done, direct if buffered is None else buffered
            )
            if buffered is not None:
                await buffered.flush()
            await backend.checkpoints.save(projection.checkpoint_name, scanned)
            if reached:
                await backend.caught_up(projection.name, projection.version)
            if go_live:
                await backend.set_live(projection.name, projection.version)
    except BaseException:
        cache.clear()
        raise


async def _handle(
    backend: ProjectionBackend,
    policy: FailurePolicy,
    projection: Projection,
    page: Sequence[RecordedEvent],
    done: int,
    writer: ReadModelStores,
) -> None:
    skip = policy.on_error == "skip"
    turns = LoopTurns()  # handlers seldom suspend: let the loop turn during a long page
    for event in page:
        if event.position <= done:
            continue
        await turns.share()
        try:
            if skip:
                async with backend.savepoint():
                    await projection.handle(event, writer)
            else:
                await projection.handle(event, writer)
        except Exception as error:
            if isinstance(error, EventStoreUnavailable) and error.transient:
                raise  # the store's passing failure, not the event's: never skipped (Projector)
            failure = ProjectionFailed(projection.name, event, error)
            if not skip:
                raise failure from error
            log.warning("%s; skipped", failure)
            await backend.record_failure(failure_record(failure))


def failure_record(failure: EventFailed) -> ProjectionFailure:
    """What the backend keeps of a failure (``ProjectionBackend.record_failure``)."""
    event = failure.event
    return ProjectionFailure(
        projection=failure.consumer,
        position=event.position,
        event_type=event.event_type,
        stream_id=event.stream_id,
        error=f"{type(failure.cause).__name__}: {failure.cause}",
        at=datetime.now(UTC),
    )
