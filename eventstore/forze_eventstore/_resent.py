"""Telling a re-sent event from a different event that reuses a stored id.

An append whose event ids are already stored at the same place is an idempotent re-append only
when each event is the one stored: the same type, the same data and the same metadata, where
the metadata's :data:`RESENT_METADATA_KEYS` may differ. Anything else is a client bug (an id
derived from the wrong key, a retry that changed the command), raised as
``DuplicateEventIdError`` instead of silently answering with the stored event's result.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from forze.contracts import TRACE_CONTEXT_KEYS

__all__ = ["RESENT_METADATA_KEYS", "difference", "same_json"]

RESENT_METADATA_KEYS = frozenset({"occurred_at", "correlation_id", *TRACE_CONTEXT_KEYS})
"""Metadata keys a faithful re-send may change: they describe the sending, not the fact.

A retried command builds its events again, stamping a new ``occurred_at``
(``EventSourcedRepository`` does), and a new request gets a new ``correlation_id`` unless the
caller passes one; a redelivered message handled with ids derived from the message id does
both. A retry is also a new trace, so the W3C trace context a telemetry stamps
(``traceparent``, ``tracestate``) may change too. Every other key (``causation_id``,
``tenant``, ``actor``, ``schema_version``, extras) must be the same.
"""


def difference(
    event_type: str,
    data: Mapping[str, Any],
    metadata: Mapping[str, Any],
    stored_type: str,
    stored_data: Mapping[str, Any],
    stored_metadata: Mapping[str, Any],
) -> str | None:
    """What differs between an appended event and the stored one with its id: ``"event
    type"``, ``"data"`` or ``"metadata"``; ``None`` when it is the same event.

    The appended side is compared as the store reads it back (through JSON), so a tuple
    equals the list it is stored as and keys compare regardless of order.
    """
    if event_type != stored_type:
        return "event type"
    if not same_json(json.loads(json.dumps(data)), stored_data):
        return "data"
    sent = json.loads(json.dumps(metadata))
    sent = {k: v for k, v in sent.items() if k not in RESENT_METADATA_KEYS}
    kept = {k: v for k, v in stored_metadata.items() if k not in RESENT_METADATA_KEYS}
    if not same_json(sent, kept):
        return "metadata"
    return None


def same_json(first: object, second: object) -> bool:
    """Whether two decoded JSON values are equal as JSON: objects whatever their key order,
    numbers by value (``1`` equals ``1.0``), and ``true``/``false`` never equal to numbers
    (Python's ``True == 1`` does not hold here)."""
    if isinstance(first, dict):
        return (
            isinstance(second, dict)
            and first.keys() == second.keys()
            and all(same_json(value, second[key]) for key, value in first.items())
        )
    if isinstance(first, list):
        return (
            isinstance(second, list)
            and len(first) == len(second)
            and all(same_json(a, b) for a, b in zip(first, second, strict=True))
        )
    if isinstance(first, bool) or isinstance(second, bool):
        return first is second
    return first == second
