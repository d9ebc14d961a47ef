"""Events as MongoDB documents, and back.

One document per event::

    {_id: <position>, stream_id, version, category, event_id: "<uuid>", event_type,
     data: "<JSON text>", metadata: "<JSON text>", recorded_at, commit, bytes}

``data`` and ``metadata`` are kept as the JSON texts the port speaks, not as BSON: every
JSON value round-trips exactly (keys MongoDB forbids such as ``$set`` or ``a.b``, integers
beyond 64 bits, key order), and an event is encoded once. ``event_id`` is the UUID's text,
which every MongoDB-compatible server compares correctly. ``commit`` is the token of the
append's reservation (see ``forze_mongo._ledger``); ``bytes`` is the size of the two
JSON texts, for read budgets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from uuid import UUID

from forze.contracts import NewEvent, RecordedEvent, category_of
from forze_eventstore import EventLimits
from forze_eventstore.adapter_kit import StoredId, check_encoded, dump_json
from forze_eventstore.rules import raw_decode
from forze_mongo.database import Document

__all__ = ["encode_events", "event_documents", "recorded", "stored_id"]

Encoded = list[tuple[NewEvent, str, str]]
"""An append's events with their data and metadata JSON texts."""


def encode_events(stream_id: str, events: Sequence[NewEvent], limits: EventLimits) -> Encoded:
    """Each event with its JSON texts, refusing one the ``limits`` do not allow."""
    encoded = []
    for event in events:
        data = dump_json(event.data, what=f"data of {event.event_type!r}")
        metadata = dump_json(event.metadata, what=f"metadata of {event.event_type!r}")
        check_encoded(stream_id, event, data, metadata, limits)
        encoded.append((event, data, metadata))
    return encoded


def event_documents(
    stream_id: str,
    encoded: Encoded,
    *,
    first_version: int,
    first_position: int,
    commit: str,
    now: datetime,
) -> Iterable[Document]:
    """The documents of one stream's part of an append."""
    category = category_of(stream_id)
    for offset, (event, data, metadata) in enumerate(encoded):
        yield {
            "_id": first_position + offset,
            "stream_id": stream_id,
            "version": first_version + offset,
            "category": category,
            "event_id": str(event.event_id),
            "event_type": event.event_type,
            "data": data,
            "metadata": metadata,
            "recorded_at": now,
            "commit": commit,
            "bytes": len(data) + len(metadata),
        }


def recorded(document: Document) -> RecordedEvent:
    """The event a document holds."""
    return RecordedEvent(
        event_id=UUID(document["event_id"]),
        event_type=document["event_type"],
        data=raw_decode(document["data"])[0],
        metadata=raw_decode(document["metadata"])[0],
        stream_id=document["stream_id"],
        version=int(document["version"]),
        position=int(document["_id"]),
        recorded_at=document["recorded_at"],
    )


def stored_id(document: Document) -> StoredId:
    """Where and what a stored event is, for the idempotent re-append check."""
    return StoredId(
        document["stream_id"],
        int(document["version"]),
        int(document["_id"]),
        document["event_type"],
        raw_decode(document["data"])[0],
        raw_decode(document["metadata"])[0],
    )
