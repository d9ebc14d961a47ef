"""Decoding the event rows of ``SQLiteEventStore`` into recorded events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from forze.contracts import RecordedEvent, StoredData
from forze.domain.errors import SerializationError
from forze_eventstore._json import raw_decode, uuids_of

__all__ = ["decode_page"]

_raw_decode = raw_decode
"""Stored JSON is written compact by ``dump_json``: no surrounding whitespace to skip."""


def decode_page(rows: list[Any]) -> list[RecordedEvent]:
    """Rows of ``_COLUMNS`` as recorded events, built with as little per-row work as possible.

    The tuple is made from its fields in order (``_make``: no keyword parsing), the page's
    ids are made in one call, and events of one append share their parsed timestamp. Data keeps
    its stored JSON (``StoredData``), which the relay publishes as is. A row that is not what
    ``append`` writes (a damaged file, a foreign write) raises ``SerializationError`` naming
    its position, never a raw decoding error and never a half-decoded event.
    """
    events: list[RecordedEvent] = []
    append = events.append
    last_stamp, last_time = -1, _EPOCH
    try:
        ids = uuids_of([row[0] for row in rows])
    except (ValueError, TypeError):
        ids = None  # one of them is damaged: the loop finds which
    try:
        for event_id, event_type, data, metadata, stream_id, version, position, stamp in rows:
            if stamp != last_stamp:
                last_stamp, last_time = stamp, datetime.fromtimestamp(stamp / 1_000_000, UTC)
            data_value, data_end = _raw_decode(data)
            metadata_value, metadata_end = _raw_decode(metadata)
            if (
                data_end != len(data)
                or metadata_end != len(metadata)
                or type(data_value) is not dict
                or type(metadata_value) is not dict
                or len(event_id) != 16
            ):
                raise ValueError("not as append stores it (JSON objects, a 16-byte id)")
            append(
                _recorded(
                    (
                        ids[len(events)] if ids is not None else uuids_of([event_id])[0],
                        event_type,
                        _stored(data_value, data),
                        metadata_value,
                        stream_id,
                        version,
                        position,
                        last_time,
                    )
                )
            )
    except (ValueError, TypeError, OverflowError, OSError) as error:
        row = rows[len(events)]
        raise SerializationError(
            f"the stored event at position {row[6]!r} (stream {row[4]!r}, version {row[5]!r})"
            f" cannot be decoded: {error}"
        ) from error
    return events


_EPOCH = datetime.fromtimestamp(0, UTC)
_stored = StoredData.of
_recorded = RecordedEvent._make
