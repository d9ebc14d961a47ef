"""The JSON form of a recorded event on the wire."""

from __future__ import annotations

import json
from typing import Any

from forze.contracts import RecordedEvent

__all__ = ["event_body", "event_line"]


def event_body(event: RecordedEvent) -> dict[str, Any]:
    """``event`` as a JSON object: where it is, what it is, its data and metadata."""
    return {
        "stream_id": event.stream_id,
        "version": event.version,
        "position": event.position,
        "event_id": str(event.event_id),
        "event_type": event.event_type,
        "data": event.data,
        "metadata": event.metadata,
        "recorded_at": event.recorded_at.isoformat(),
    }


def event_line(event: RecordedEvent) -> str:
    """``event`` as one Server-Sent Event: its position is the ``id`` a reconnecting client
    sends back as ``Last-Event-ID``; the JSON has no newline, so it is one ``data`` line."""
    data = json.dumps(event_body(event), separators=(",", ":"), ensure_ascii=False)
    return f"id: {event.position}\ndata: {data}\n\n"
