"""Running a projection over the feed up to the head, in checkpointed batches."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from forze.contracts import CheckpointStore, EventStore, ReadModelStores
from forze_projections.projection import Projection

__all__ = ["CatchUpProgress", "catch_up"]


@dataclass(frozen=True, slots=True)
class CatchUpProgress:
    """How far a catch-up got: events handled, checkpoint position, head and time taken."""

    projection: str
    handled: int
    position: int
    head: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        """Handled events per second so far."""
        return self.handled / self.seconds if self.seconds > 0 else 0.0


async def catch_up(
    projection: Projection,
    events: EventStore,
    read_models: ReadModelStores,
    checkpoints: CheckpointStore,
    *,
    batch_size: int = 1000,
    on_progress: Callable[[CatchUpProgress], None] | None = None,
) -> CatchUpProgress:
    """Apply every event after the projection's checkpoint up to the current head.

    The checkpoint is saved after each batch, so a stopped run resumes where it left off;
    a batch interrupted midway is handled again, which is why handlers must be idempotent
    (or the store must commit writes with the checkpoint).
    """
    name = projection.checkpoint_name
    position = await checkpoints.load(name)
    head = await events.head_position()
    started = time.perf_counter()
    handled = 0
    progress = CatchUpProgress(name, 0, position, head, 0.0)
    while position < head:
        batch = await events.read_all(
            after=position, limit=batch_size, event_types=projection.event_types
        )
        batch = [event for event in batch if event.position <= head]
        if not batch:
            position = head
        for event in batch:
            await projection.handle(event, read_models)
            position = event.position
        handled += len(batch)
        await checkpoints.save(name, position)
        progress = CatchUpProgress(name, handled, position, head, time.perf_counter() - started)
        if on_progress is not None:
            on_progress(progress)
    return progress
