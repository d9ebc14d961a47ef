"""``forze streams`` and ``forze stream show``: look into any event store.

Inspection changes nothing (see ``forze_cli._stores``): a SQLite file is opened read-only (no
table created, journal mode unchanged, no file left beside it), and a file, schema or
database that is not a forze store is reported as such.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO, cast

from forze.contracts import EventStore, RecordedEvent
from forze.domain.errors import InvalidInputError
from forze_cli._console import line_writer, write_table
from forze_cli._feed import format_event
from forze_cli._stores import StoreTarget, open_store
from forze_eventstore import ArchivedReads, SQLiteEventStore
from forze_eventstore.adapter_kit import StreamArchives

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


async def list_streams(
    target: StoreTarget,
    out: TextIO,
    *,
    category: str | None,
    limit: int | None,
    as_json: bool = False,
) -> None:
    """Print every stream with its version (optionally of one category, at most ``limit``):
    a table and a summary line, or one JSON object per stream."""
    async with open_store(target) as store:
        shown = await store.events.list_streams(category=category, limit=limit)
        head = await store.events.head_position()
    if as_json:
        for stream_id, version in shown:
            out.write(json.dumps({"stream_id": stream_id, "version": version}) + "\n")
        return
    rows = [(stream_id, str(version)) for stream_id, version in shown]
    write_table(("STREAM", "VERSION"), rows, out, numeric=("VERSION",))
    more = limit is not None and len(shown) == limit
    what = f"first {len(shown)}" if more else str(len(shown))
    kind = f" of category {category!r}" if category is not None else ""
    out.write(f"{what} streams{kind}; head position {head}\n")


async def show_stream(
    target: StoreTarget,
    stream_id: str,
    out: TextIO,
    *,
    limit: int | None,
    as_json: bool,
    archive: str | None = None,
) -> None:
    """Print the events of one stream, oldest first (archived ones too, from ``archive``)."""
    async with open_store(target) as store:
        if archive is None:
            events = await store.events.read_stream(stream_id, limit=limit)
        else:
            events = await _read_archived(store.events, archive, stream_id, limit)
        if not events and await store.events.stream_version(stream_id) == 0:
            raise InvalidInputError(f"stream {stream_id!r} does not exist in {target.describe()!r}")
    write = line_writer(out)
    for event in events:
        if as_json:
            out.write(format_event(event, as_json=True) + "\n")
        else:
            write(
                [
                    (f"v{event.version:<4} ", ""),
                    (f"#{event.position:<8} {event.recorded_at:%Y-%m-%d %H:%M:%S} ", "dim"),
                    (f"{event.event_type:<18}", "bold"),
                    (" " + json.dumps(event.data, sort_keys=True), ""),
                ]
            )


async def _read_archived(
    events: EventStore, location: str, stream_id: str, limit: int | None
) -> Sequence[RecordedEvent]:
    """The stream whole, its archived events read from ``location``."""
    from forze_cli._transfer_cmd import open_location

    if not hasattr(events, "archived_segments"):
        raise InvalidInputError("this store cannot have archived streams")
    async with open_location(location) as (storage, _prefix):
        reads = ArchivedReads(cast(StreamArchives, events), storage)
        return await reads.read_stream(stream_id, limit=limit)
