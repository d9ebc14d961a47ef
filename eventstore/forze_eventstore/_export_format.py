"""The export format: gzip-compressed JSON-lines chunks and a manifest, in object storage.

Under a prefix ``P``::

    P/manifest.json            what was exported, and each chunk with its checksum
    P/events-000001.jsonl.gz   events in feed order, one JSON object per line
    P/events-000002.jsonl.gz   ...

A line holds everything an event is: ``position`` (in the source), ``stream_id``,
``version``, ``event_id``, ``event_type``, ``recorded_at`` (ISO 8601), ``data`` and
``metadata``. A chunk's checksum is the SHA-256 of its compressed bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from forze.contracts import RecordedEvent
from forze.domain.errors import InvalidInputError

__all__ = [
    "FORMAT",
    "MANIFEST",
    "Chunk",
    "ExportCorrupted",
    "ExportManifest",
    "chunk_key",
    "decode_chunk",
    "encode_chunk",
    "runs",
]

FORMAT = "forze-events-export"
"""The manifest's ``format``: what the files are."""

VERSION = 1
"""The manifest's ``version``: the layout this code writes and reads."""

MANIFEST = "manifest.json"
"""The manifest's key under the export's prefix."""


class ExportCorrupted(InvalidInputError):
    """An export's manifest or a chunk is not what was written (a checksum or size that does
    not match, a line that is not an event): nothing of that chunk was imported."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """One file of an export: its key (under the prefix), the positions of its first and last
    event in the source, how many events, and the SHA-256 and size of its bytes."""

    key: str
    first_position: int
    last_position: int
    events: int
    sha256: str
    bytes: int


@dataclass(frozen=True, slots=True)
class ExportManifest:
    """What an export holds: the source's events with ``after < position <= up_to`` (of
    ``categories`` when given), in ``chunks``; ``complete`` once every chunk is written."""

    after: int
    up_to: int
    categories: tuple[str, ...] | None
    chunks: tuple[Chunk, ...] = ()
    complete: bool = False
    created_at: str = ""
    source: str = ""
    format: str = FORMAT
    version: int = VERSION

    @property
    def events(self) -> int:
        """The events in the chunks written so far."""
        return sum(chunk.events for chunk in self.chunks)

    @property
    def exported_to(self) -> int:
        """The source position the chunks written so far reach (``after`` when none)."""
        return self.chunks[-1].last_position if self.chunks else self.after

    def to_json(self) -> bytes:
        """The manifest file's bytes."""
        record = asdict(self)
        record["categories"] = None if self.categories is None else list(self.categories)
        record["events"] = self.events
        return json.dumps(record, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> ExportManifest:
        """The manifest in ``data`` (read from ``where``); ``ExportCorrupted`` if it is not
        one this code reads."""
        try:
            record = json.loads(data)
            if record.get("format") != FORMAT:
                raise ExportCorrupted(f"{where} is not a forze events export manifest")
            if record.get("version") != VERSION:
                raise ExportCorrupted(
                    f"{where} is an export of layout version {record.get('version')!r}; this"
                    f" forze reads version {VERSION}"
                )
            categories = record["categories"]
            return cls(
                after=int(record["after"]),
                up_to=int(record["up_to"]),
                categories=None if categories is None else tuple(map(str, categories)),
                chunks=tuple(Chunk(**chunk) for chunk in record["chunks"]),
                complete=bool(record["complete"]),
                created_at=str(record.get("created_at", "")),
                source=str(record.get("source", "")),
            )
        except ExportCorrupted:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ExportCorrupted(f"{where} is not a readable export manifest: {error}") from None


def chunk_key(number: int) -> str:
    """The key (under the prefix) of chunk ``number`` (from 1)."""
    return f"events-{number:06d}.jsonl.gz"


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
"""One encoder for every line (``json.dumps`` would build one per call with these options)."""


def _line(event: RecordedEvent) -> str:
    return _ENCODER.encode(
        {
            "position": event.position,
            "stream_id": event.stream_id,
            "version": event.version,
            "event_id": str(event.event_id),
            "event_type": event.event_type,
            "recorded_at": event.recorded_at.isoformat(),
            "data": event.data,
            "metadata": event.metadata,
        }
    )


def encode_chunk(events: Sequence[RecordedEvent]) -> tuple[bytes, str]:
    """The compressed JSON lines of ``events`` and their SHA-256 (hex)."""
    text = "\n".join(_line(event) for event in events) + "\n"
    data = gzip.compress(
        text.encode(), compresslevel=3, mtime=0
    )  # as small as 6 on events, twice as fast
    return data, hashlib.sha256(data).hexdigest()


def decode_chunk(data: bytes, chunk: Chunk, where: str) -> list[RecordedEvent]:
    """The events of ``chunk`` from its bytes, checked against the manifest's size, checksum,
    count and positions; ``ExportCorrupted`` naming ``where`` otherwise."""
    if len(data) != chunk.bytes or hashlib.sha256(data).hexdigest() != chunk.sha256:
        raise ExportCorrupted(
            f"{where}: its bytes do not match the manifest's size and SHA-256 (a damaged or"
            " replaced file)"
        )
    try:
        lines = gzip.decompress(data).decode().splitlines()
        events = [_event(json.loads(line)) for line in lines]
    except (OSError, EOFError, ValueError, KeyError, TypeError) as error:
        raise ExportCorrupted(f"{where}: not a chunk of events: {error}") from None
    positions = [event.position for event in events]
    if (
        len(events) != chunk.events
        or not events
        or positions[0] != chunk.first_position
        or positions[-1] != chunk.last_position
        or positions != sorted(set(positions))
    ):
        raise ExportCorrupted(f"{where}: its events do not match the manifest")
    return events


def _event(record: dict[str, Any]) -> RecordedEvent:
    return RecordedEvent(
        event_id=UUID(record["event_id"]),
        event_type=str(record["event_type"]),
        data=record["data"],
        metadata=record["metadata"],
        stream_id=str(record["stream_id"]),
        version=int(record["version"]),
        position=int(record["position"]),
        recorded_at=datetime.fromisoformat(record["recorded_at"]),
    )


def runs(events: Iterable[RecordedEvent]) -> list[list[RecordedEvent]]:
    """``events`` cut into runs of consecutive events of one stream (each run is one part of
    an ``append_many``)."""
    parts: list[list[RecordedEvent]] = []
    for event in events:
        last = parts[-1][-1] if parts else None
        if last is not None and last.stream_id == event.stream_id:
            parts[-1].append(event)
        else:
            parts.append([event])
    return parts
