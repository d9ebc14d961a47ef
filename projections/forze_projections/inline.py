"""Inline projections: read models updated inside the append's own SQLite transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from forze.contracts import EventStore, RecordedEvent
from forze.domain.errors import WiringError
from forze_eventstore import SQLiteEventStore
from forze_projections.backend import ProjectionBackend
from forze_projections.errors import ProjectionFailed
from forze_projections.projection import Projection
from forze_projections.projector import Projector
from forze_projections.sqlite_backend import SQLiteProjectionBackend

__all__ = ["InlineHook", "add_inline_projection", "register_inline"]

InlineHook = Callable[[Sequence[RecordedEvent]], Awaitable[None]]
"""Applies an inline projection to one append's events, inside the append's transaction."""


async def add_inline_projection(
    store: SQLiteEventStore, backend: SQLiteProjectionBackend, projection: Projection
) -> None:
    """Keep ``projection`` consistent with every append to ``store``.

    The projection is first caught up from its checkpoint; from then on each append runs its
    handlers and saves its checkpoint inside the append's transaction, so a reader never sees
    an event without its read-model change, and a handler that raises rolls the append back
    (the appender gets a ``ProjectionFailed`` naming the event). ``store`` and ``backend``
    must share one SQLite file.
    """
    if backend.db is not store.db:
        raise WiringError(
            "an inline projection needs the event store and the projection backend on one "
            "SQLiteDatabase, so that they share the append's transaction"
        )
    await register_inline(store, backend, projection, store.add_append_hook)


async def register_inline(
    store: EventStore,
    backend: ProjectionBackend,
    projection: Projection,
    add_hook: Callable[[InlineHook], None],
) -> None:
    """Catch ``projection`` up, give ``add_hook`` the hook that applies it to each append's
    events and saves its checkpoint, then catch up again (appends committed in between).

    What every store's inline projections share; the adapter first checks that ``store`` and
    ``backend`` write in one transaction, and ``add_hook`` runs the hook inside it.
    """
    projector = Projector(store, backend, [projection])
    writer = backend.writer(projection.name, projection.version)
    types = frozenset(projection.event_types)

    async def project(events: Sequence[RecordedEvent]) -> None:
        for event in events:
            if event.event_type in types:
                try:
                    await projection.handle(event, writer)
                except Exception as error:
                    raise ProjectionFailed(projection.name, event, error) from error
        await backend.checkpoints.save(projection.checkpoint_name, events[-1].position)

    await projector.catch_up()
    add_hook(project)
    await projector.catch_up()
