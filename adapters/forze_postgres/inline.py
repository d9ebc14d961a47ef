"""Inline projections on PostgreSQL: read models updated inside the append's transaction."""

from __future__ import annotations

from collections.abc import Sequence

from forze.contracts import RecordedEvent
from forze.domain.errors import WiringError
from forze_postgres._driver import Connection
from forze_postgres.event_store import PostgresEventStore
from forze_postgres.projections import PostgresProjectionBackend
from forze_projections import Projection
from forze_projections.adapter_kit import InlineHook, register_inline

__all__ = ["add_postgres_inline_projection"]


async def add_postgres_inline_projection(
    store: PostgresEventStore, backend: PostgresProjectionBackend, projection: Projection
) -> None:
    """Keep ``projection`` consistent with every append to ``store``.

    The projection is caught up from its checkpoint, then runs inside each append's own
    transaction (its read-model writes and checkpoint commit with the events); a handler that
    raises rolls the append back and the appender gets a ``ProjectionFailed``. ``store`` and
    ``backend`` must use one ``PostgresDatabase`` (or views of one tenant of it). Register
    inline projections when the application starts, before appends run: an append still in
    flight during registration (started before it, committed after it) is caught up only if
    it commits before the registration's final catch-up.
    """
    if not backend.db.same_database(store.db):
        raise WiringError(
            "an inline projection needs the event store and the projection backend on one "
            "PostgresDatabase, so that they share the append's transaction"
        )
    await backend.prepare()

    def add_hook(hook: InlineHook) -> None:
        async def in_append(_connection: Connection, events: Sequence[RecordedEvent]) -> None:
            await hook(events)

        store.add_append_hook(in_append)

    await register_inline(store, backend, projection, add_hook)
