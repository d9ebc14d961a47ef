"""The catalog: which streams exist, and how events link by correlation and causation.

The event-store port reads streams and the feed, but cannot list streams or find the events
of one correlation without scanning the log. The catalog is a projection that keeps both as
read models, as EventStoreDB's ``$streams`` and ``$by_correlation_id`` system projections do,
so any store (memory, SQLite, PostgreSQL, Mongo) can answer them with ordinary read-model
queries: the web console (``forze_fastapi.console_router``) is built on it.

It costs one document write per event and one per new stream version (batched by the
projector, like any projection), so an application adds it only where it wants it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from forze.contracts import ReadModelSpec, ReadModelStores, RecordedEvent
from forze.domain.errors import WiringError
from forze.domain.spec import AggregateSpec
from forze_projections.projection import Projection, ProjectionHandler

__all__ = [
    "CATALOG_NAME",
    "EVENT_LINKS",
    "STREAMS",
    "EventLink",
    "StreamEntry",
    "catalog_projection",
]

CATALOG_NAME = "forze_catalog"
"""The catalog projection's default name (its checkpoint and lease use it)."""


class StreamEntry(BaseModel):
    """One stream as the catalog last saw it."""

    stream_id: str
    category: str
    """The part of ``stream_id`` before its first ``-``."""
    version: int
    """The version of the stream's newest event."""
    last_event_type: str
    last_position: int
    """The feed position of the stream's newest event: sort by it for recent activity."""
    created_at: datetime
    """When the stream's first event was recorded."""
    updated_at: datetime
    """When its newest event was recorded."""


class EventLink(BaseModel):
    """Where one event is, and the correlation and causation ids its metadata carries."""

    event_id: str
    stream_id: str
    version: int
    position: int
    event_type: str
    recorded_at: datetime
    correlation_id: str = ""
    """The event's ``correlation_id`` metadata, or ``""`` when it has none."""
    causation_id: str = ""
    """The event's ``causation_id`` metadata (often the id of the event or message that
    caused it), or ``""``."""


STREAMS: ReadModelSpec[StreamEntry] = ReadModelSpec(
    "forze_streams",
    StreamEntry,
    key="stream_id",
    indexes=("category", "last_position"),
    search_fields=("stream_id",),
)
"""Every stream of the catalogued event types: search by words of the stream id, filter by
category, sort by ``last_position``."""

EVENT_LINKS: ReadModelSpec[EventLink] = ReadModelSpec(
    "forze_event_links",
    EventLink,
    key="event_id",
    indexes=("correlation_id", "causation_id", "position"),
)
"""Every catalogued event by id, with its correlation and causation ids indexed: the events of
one correlation, and the events one event (or message) caused."""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


async def _catalogue(envelope: RecordedEvent, read_models: ReadModelStores) -> None:
    metadata = envelope.metadata
    await read_models(EVENT_LINKS).upsert(
        EventLink(
            event_id=str(envelope.event_id),
            stream_id=envelope.stream_id,
            version=envelope.version,
            position=envelope.position,
            event_type=envelope.event_type,
            recorded_at=envelope.recorded_at,
            correlation_id=_text(metadata.get("correlation_id")),
            causation_id=_text(metadata.get("causation_id")),
        )
    )
    streams = read_models(STREAMS)
    known = await streams.get(envelope.stream_id)
    if known is not None and known.version >= envelope.version:
        return  # a replay of an event the entry already shows
    await streams.upsert(
        StreamEntry(
            stream_id=envelope.stream_id,
            category=envelope.stream_id.partition("-")[0],
            version=envelope.version,
            last_event_type=envelope.event_type,
            last_position=envelope.position,
            created_at=envelope.recorded_at if known is None else known.created_at,
            updated_at=envelope.recorded_at,
        )
    )


def catalog_projection(
    specs: Iterable[AggregateSpec[Any]],
    *,
    event_types: Iterable[str] = (),
    name: str = CATALOG_NAME,
    version: int = 1,
) -> Projection:
    """The catalog of every event type the aggregate ``specs`` declare (their old names from
    upcasting included), plus ``event_types`` for events no spec declares.

    Events of other types are not catalogued: their streams are missing from :data:`STREAMS`
    until an event of a catalogued type lands in them. Add the catalog to the application's
    projections; a catalog added to an existing store builds itself from the start of the feed.
    """
    handled: dict[str, ProjectionHandler] = {}
    for spec in specs:
        for declared in spec.events:
            handled[declared.name] = _catalogue
    for event_type in event_types:
        handled[event_type] = _catalogue
    if not handled:
        raise WiringError("the catalog needs aggregate specs or event types to catalogue")
    return Projection(name, version, handled, read_models=(STREAMS, EVENT_LINKS))
