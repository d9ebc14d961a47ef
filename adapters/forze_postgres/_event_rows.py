"""Turning appends into the arguments of the event store's statements, and rows back into
recorded events (no I/O here)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from forze.contracts import (
    ExpectedVersion,
    ExpectedVersionArg,
    NewEvent,
    RecordedEvent,
    category_of,
)
from forze.domain.errors import InvalidInputError
from forze_eventstore import EventLimits
from forze_eventstore.adapter_kit import CutPage, check_encoded, dump_json
from forze_eventstore.adapter_kit import validate_batch as shared_validate_batch
from forze_eventstore.rules import raw_decode
from forze_postgres._event_sql import POSITION_BITS

__all__ = [
    "MAX_EVENTS",
    "MAX_NAME_LENGTH",
    "Append",
    "append_arguments",
    "batch_arguments",
    "check_limits",
    "decode_page",
    "decode_rows",
    "jsonb_texts",
    "known_arguments",
    "validate_batch",
]

MAX_EVENTS = 1 << POSITION_BITS
"""Events one append (or one batch) may hold: a transaction numbers its events in 20 bits."""

MAX_NAME_LENGTH = 600
"""Most characters a store's limits may allow a stream id or an event type: 4 UTF-8 bytes each
must fit, with the tenant, in a btree index entry (about 2,700 bytes)."""


def check_limits(limits: EventLimits) -> EventLimits:
    """``limits``, unless they allow names longer than PostgreSQL's indexes hold."""
    longest = max(limits.max_stream_id_length, limits.max_event_type_length)
    if longest > MAX_NAME_LENGTH:
        raise InvalidInputError(
            f"PostgreSQL indexes hold stream ids and event types of at most {MAX_NAME_LENGTH}"
            f" characters; the limits allow {longest}"
        )
    return limits


Append = tuple[str, Sequence[NewEvent], ExpectedVersionArg]
"""``(stream_id, events, expected_version)``: one stream's part of a batch."""

_STRING_OR_BIG_FLOAT = re.compile(r'"(?:\\.|[^"\\])*"|(-?\d+(?:\.\d+)?[eE]\+\d+)')


def _jsonb_text(text: str) -> str:
    """``text`` with floats in exponent form (|x| >= 1e16) written out in full.

    JSONB keeps numbers as ``numeric``, which prints ``2.5e+16`` as ``25000000000000000``: read
    back, that is an int. Written as ``25000000000000000.0`` it stays a float, exactly.
    """
    if "e+" not in text and "E+" not in text:
        return text
    return _STRING_OR_BIG_FLOAT.sub(_written_out, text)


def _written_out(match: re.Match[str]) -> str:
    number = match.group(1)
    if number is None:
        return match.group(0)
    return f"{Decimal(float(number)):f}.0"


def jsonb_texts(events: Sequence[NewEvent]) -> tuple[list[str], list[str]]:
    """The events' data and metadata as JSON texts JSONB keeps exactly (or InvalidInputError)."""
    try:
        data = [_jsonb_text(dump_json(e.data, what="data")) for e in events]
        metadata = [_jsonb_text(dump_json(e.metadata, what="metadata")) for e in events]
    except InvalidInputError:
        for e in events:  # again, to name the event in the message (not built when all is well)
            dump_json(e.data, what=f"data of {e.event_type!r}")
            dump_json(e.metadata, what=f"metadata of {e.event_type!r}")
        raise
    return data, metadata


def event_texts(event: NewEvent) -> tuple[str, str]:
    """One event's data and metadata as :func:`jsonb_texts` makes them."""
    try:
        return (
            _jsonb_text(dump_json(event.data, what="data")),
            _jsonb_text(dump_json(event.metadata, what="metadata")),
        )
    except InvalidInputError:
        jsonb_texts([event])  # again, naming the event in the message
        raise


def expectation(expected: ExpectedVersionArg) -> tuple[int | None, bool, bool]:
    """``(expected version or None: no check, may update a stream, may create it)``."""
    if expected is ExpectedVersion.ANY:
        return None, True, True
    if expected is ExpectedVersion.NO_STREAM or expected == 0:
        return None, False, True
    if expected is ExpectedVersion.STREAM_EXISTS:
        return None, True, False
    return int(expected), True, False


def append_arguments(
    stream_id: str, events: Sequence[NewEvent], expected: ExpectedVersionArg, limits: EventLimits
) -> tuple[Any, ...]:
    """``$1``..``$10`` of ``Statements.append``, or of ``Statements.append_one`` for a single
    event (its id, type, data and metadata as values, not arrays); the rest follow. Events
    beyond ``limits`` are refused (``InvalidInputError``)."""
    if len(events) > MAX_EVENTS:
        raise InvalidInputError(f"one append holds at most {MAX_EVENTS} events")
    if len(events) == 1:
        (event,) = events
        data_text, metadata_text = event_texts(event)
        check_encoded(stream_id, event, data_text, metadata_text, limits)
        return (
            stream_id,
            1,
            *expectation(expected),
            event.event_id,
            event.event_type,
            data_text,
            metadata_text,
            category_of(stream_id),
        )
    data, metadata = jsonb_texts(events)
    for event, data_text, metadata_text in zip(events, data, metadata, strict=True):
        check_encoded(stream_id, event, data_text, metadata_text, limits)
    return (
        stream_id,
        len(events),
        *expectation(expected),
        [e.event_id for e in events],
        [e.event_type for e in events],
        data,
        metadata,
        category_of(stream_id),
    )


def known_arguments(
    stream_id: str, event: NewEvent, version: int, limits: EventLimits
) -> tuple[Any, ...]:
    """``$1``..``$7`` of ``Statements.append_known``: ``event`` at ``version`` (within
    ``limits``)."""
    data, metadata = event_texts(event)
    check_encoded(stream_id, event, data, metadata, limits)
    return (
        stream_id,
        version,
        event.event_id,
        event.event_type,
        category_of(stream_id),
        data,
        metadata,
    )


def validate_batch(appends: object, limits: EventLimits) -> list[Append]:
    """``forze_eventstore.validate_batch``, and at most ``MAX_EVENTS`` events in all."""
    batch = shared_validate_batch(appends, limits=limits)
    total = sum(len(events) for _, events, _ in batch)
    if total > MAX_EVENTS:
        raise InvalidInputError(f"one batch holds at most {MAX_EVENTS} events, got {total}")
    return batch


def batch_arguments(batch: Sequence[Append], limits: EventLimits) -> tuple[Any, ...]:
    """The arguments of ``forze_append_many`` after the lock key (the tenant follows); an
    event beyond ``limits`` is refused (``InvalidInputError``)."""
    streams, counts, expected, may_update, may_create, categories = [], [], [], [], [], []
    event_streams: list[int] = []
    event_ranks: list[int] = []
    events: list[NewEvent] = []
    for index, (stream_id, stream_events, expected_version) in enumerate(batch, start=1):
        version, update, create = expectation(expected_version)
        streams.append(stream_id)
        counts.append(len(stream_events))
        expected.append(version)
        may_update.append(update)
        may_create.append(create)
        categories.append(category_of(stream_id))
        event_streams += [index] * len(stream_events)
        event_ranks += range(1, len(stream_events) + 1)
        events += stream_events
    data, metadata = jsonb_texts(events)
    owners = [stream_id for stream_id, part, _ in batch for _ in part]
    for owner, event, data_text, metadata_text in zip(owners, events, data, metadata, strict=True):
        check_encoded(owner, event, data_text, metadata_text, limits)
    return (
        streams,
        counts,
        expected,
        may_update,
        may_create,
        categories,
        event_streams,
        event_ranks,
        [e.event_id for e in events],
        [e.event_type for e in events],
        data,
        metadata,
    )


_raw_decode = raw_decode
"""``json.JSONDecoder().raw_decode``, through msgspec for a whole JSON object (JSONB prints
no surrounding whitespace): the same values, ints past 64 bits included."""


def decode_rows(rows: Sequence[Any]) -> list[RecordedEvent]:
    """Recorded events from rows of ``event_id, event_type, data::text, metadata::text,
    stream_id, version, position, recorded_at``."""
    # asyncpg's UUIDs are uuid.UUID instances (a subclass), equal and hashing alike: kept as is.
    return [
        RecordedEvent(
            row[0],
            row[1],
            _raw_decode(row[2])[0],
            _raw_decode(row[3])[0],
            row[4],
            row[5],
            row[6],
            row[7],
        )
        for row in rows
    ]


def decode_page(
    rows: Sequence[Any], limit: int | None, max_bytes: int | None
) -> list[RecordedEvent]:
    """:func:`decode_rows`, as a ``CutPage`` when a byte budget stopped the page early."""
    events = decode_rows(rows)
    if max_bytes is None or (limit is not None and len(rows) >= limit):
        return events
    if sum(len(row[2]) + len(row[3]) for row in rows) >= max_bytes:
        return CutPage(events)
    return events
