"""``forze feed tail``: print the global feed of a SQLite store, optionally following it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from forze import RecordedEvent
from forze_cli.inspect_store import open_existing

__all__ = ["format_event", "tail_feed"]


def format_event(event: RecordedEvent, *, as_json: bool) -> str:
    """One line for ``event``: a JSON object, or columns for people."""
    if as_json:
        record = {
            "position": event.position,
            "stream_id": event.stream_id,
            "version": event.version,
            "event_id": str(event.event_id),
            "event_type": event.event_type,
            "recorded_at": event.recorded_at.isoformat(),
            "data": event.data,
            "metadata": event.metadata,
        }
        return json.dumps(record, sort_keys=True)
    data = json.dumps(event.data, sort_keys=True)
    return (
        f"#{event.position:<8} {event.recorded_at:%H:%M:%S} {event.stream_id:<20} "
        f"v{event.version:<4} {event.event_type:<18} {data}"
    )


async def tail_feed(
    path: Path,
    out: TextIO,
    *,
    last: int,
    follow: bool,
    count: int | None,
    event_types: Sequence[str] | None,
    categories: Sequence[str] | None,
    as_json: bool,
) -> None:
    """Print the feed from ``last`` positions before the head; with ``follow``, keep going.

    ``count`` stops after that many printed events (useful in scripts and tests).
    """
    async with open_existing(path) as store:
        after = max(0, await store.head_position() - last)
        if not follow:
            page = await store.read_all(
                after=after, limit=count, event_types=event_types, categories=categories
            )
            for event in page:
                out.write(format_event(event, as_json=as_json) + "\n")
            return
        feed = store.subscribe(after=after, event_types=event_types, categories=categories)
        printed = 0
        try:
            async for event in feed:
                out.write(format_event(event, as_json=as_json) + "\n")
                out.flush()
                printed += 1
                if count is not None and printed >= count:
                    return
        finally:
            await feed.aclose()
