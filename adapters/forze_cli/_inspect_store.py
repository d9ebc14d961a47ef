"""``forze streams`` and ``forze stream show``: look into any SQLite event store.

Inspection opens the file read-only (see ``SQLiteDatabase``'s ``read_only``): it never creates
tables, changes the journal mode, or leaves files beside it, and a file that is not a forze
store is reported as such.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from forze.domain.errors import InvalidInputError
from forze_cli._console import line_writer, write_table
from forze_eventstore import SQLiteEventStore

__all__ = [
    "list_streams",
    "open_existing",
    "require_forze_store",
    "require_store_file",
    "show_stream",
]


def require_store_file(path: Path) -> None:
    """Refuse a path that is not an existing file (inspection never creates one)."""
    if not path.is_file():
        raise InvalidInputError(f"no event store at {str(path)!r} (run 'forze demo' first?)")


def open_existing(path: Path) -> SQLiteEventStore:
    """Open, read-only, a forze store that must already exist."""
    require_store_file(path)
    return SQLiteEventStore(path, read_only=True)


def require_forze_store(path: Path) -> None:
    """Refuse, without changing it, a path that is not an existing forze store."""
    open_existing(path).close()


async def list_streams(path: Path, out: TextIO, *, category: str | None, limit: int | None) -> None:
    """Print every stream with its version (optionally of one category)."""
    async with open_existing(path) as store:
        streams = await store.list_streams()
        head = await store.head_position()
    shown = [
        (stream_id, version)
        for stream_id, version in streams
        if category is None or stream_id.partition("-")[0] == category
    ]
    if limit is not None:
        shown = shown[:limit]
    rows = [(stream_id, str(version)) for stream_id, version in shown]
    write_table(("STREAM", "VERSION"), rows, out, numeric=("VERSION",))
    out.write(f"{len(shown)} of {len(streams)} streams, {head} events\n")


async def show_stream(
    path: Path, stream_id: str, out: TextIO, *, limit: int | None, as_json: bool
) -> None:
    """Print the events of one stream, oldest first."""
    async with open_existing(path) as store:
        events = await store.read_stream(stream_id, limit=limit)
        if not events and await store.stream_version(stream_id) == 0:
            raise InvalidInputError(f"stream {stream_id!r} does not exist in {str(path)!r}")
    write = line_writer(out)
    for event in events:
        if as_json:
            record = {
                "stream_id": event.stream_id,
                "version": event.version,
                "position": event.position,
                "event_id": str(event.event_id),
                "event_type": event.event_type,
                "recorded_at": event.recorded_at.isoformat(),
                "data": event.data,
                "metadata": event.metadata,
            }
            out.write(json.dumps(record, sort_keys=True) + "\n")
        else:
            write(
                [
                    (f"v{event.version:<4} ", ""),
                    (f"#{event.position:<8} {event.recorded_at:%Y-%m-%d %H:%M:%S} ", "dim"),
                    (f"{event.event_type:<18}", "bold"),
                    (" " + json.dumps(event.data, sort_keys=True), ""),
                ]
            )
