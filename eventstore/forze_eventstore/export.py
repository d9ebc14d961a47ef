"""Exporting the event log to object storage and importing it into another store.

``export_events`` writes the events of a position range (optionally of some categories) as
gzip-compressed JSON-lines chunks with a manifest (``forze_eventstore._export_format`` has
the layout); ``import_events`` appends them to a store, checking each chunk's checksum first.
Both resume where an interrupted run stopped.

An import reproduces the exported streams with the same stream ids, versions, event ids,
types, data, metadata and feed order. Two things the target decides itself: positions (a
SQLite or in-memory store numbers them 1, 2, 3... after what it holds; PostgreSQL and MongoDB
number them their own way, increasing but not consecutive), and ``recorded_at`` (the import's
time; the source's is in the chunk files).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from forze.contracts import EventStore, NewEvent, ObjectStorage, RecordedEvent, StreamAppend
from forze.domain.errors import ConcurrencyError, InvalidInputError, NotFoundError
from forze_eventstore._export_format import (
    MANIFEST,
    Chunk,
    ExportCorrupted,
    ExportManifest,
    chunk_key,
    decode_chunk,
    encode_chunk,
    runs,
)

__all__ = [
    "ExportCorrupted",
    "ExportManifest",
    "ImportReport",
    "TransferProgress",
    "export_events",
    "import_events",
    "read_manifest",
]

_PAGE = 5_000
"""Events read per feed call while exporting."""


@dataclass(frozen=True, slots=True)
class TransferProgress:
    """How far an export or import got: ``done`` of ``total`` events."""

    done: int
    total: int


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What ``import_events`` did: ``imported`` events appended, ``skipped`` events of chunks
    an earlier run had imported already, in ``seconds``."""

    imported: int
    skipped: int
    chunks: int
    seconds: float


def _prefixed(prefix: str, key: str) -> str:
    return f"{prefix.rstrip('/')}/{key}" if prefix else key


async def read_manifest(storage: ObjectStorage, prefix: str) -> ExportManifest | None:
    """The manifest under ``prefix``, or ``None`` when there is none."""
    key = _prefixed(prefix, MANIFEST)
    try:
        data = await storage.get(key)
    except NotFoundError:
        return None
    return ExportManifest.from_json(data, key)


async def export_events(
    events: EventStore,
    storage: ObjectStorage,
    prefix: str,
    *,
    after: int = 0,
    up_to: int | None = None,
    categories: Collection[str] | None = None,
    chunk_events: int = 50_000,
    source: str = "",
    on_progress: Callable[[TransferProgress], None] | None = None,
) -> ExportManifest:
    """Export the events with ``after < position <= up_to`` (default: the head when the
    export starts) of ``categories`` (default: all) to ``storage`` under ``prefix``.

    Each chunk of ``chunk_events`` events is written, then the manifest naming it, so an
    interrupted export run again with the same options goes on after its last chunk (a
    finished one returns its manifest at once); other options for an existing export raise
    ``InvalidInputError``. The manifest says ``complete`` once the range is exported.
    """
    if chunk_events < 1:
        raise InvalidInputError(f"chunk_events must be at least 1, got {chunk_events}")
    wanted = None if categories is None else tuple(sorted(set(categories)))
    manifest = await read_manifest(storage, prefix)
    if manifest is None:
        end = await events.head_position() if up_to is None else up_to
        manifest = ExportManifest(
            after=after,
            up_to=end,
            categories=wanted,
            created_at=datetime.now(UTC).isoformat(),
            source=source,
        )
    elif (manifest.after, manifest.categories) != (after, wanted) or (
        up_to is not None and up_to != manifest.up_to
    ):
        raise InvalidInputError(
            f"{_prefixed(prefix, MANIFEST)} holds an export of other events (after"
            f" {manifest.after}, up to {manifest.up_to}, categories {manifest.categories}):"
            " export to another prefix, or with the same options to finish it"
        )
    if on_progress is not None:
        on_progress(TransferProgress(manifest.events, await _count(events, manifest)))
    pending: list[RecordedEvent] = []
    cursor = manifest.exported_to
    while not manifest.complete:
        page = await events.read_all(after=cursor, limit=_PAGE, categories=wanted)
        page = [event for event in page if event.position <= manifest.up_to]
        pending += page
        cursor = page[-1].position if page else manifest.up_to
        finished = len(page) < _PAGE or cursor >= manifest.up_to
        while len(pending) >= chunk_events or (finished and pending):
            batch, pending = pending[:chunk_events], pending[chunk_events:]
            manifest = await _write_chunk(storage, prefix, manifest, batch)
            if on_progress is not None:
                on_progress(TransferProgress(manifest.events, manifest.events + len(pending)))
        if finished:
            manifest = replace(manifest, complete=True)
            await _write_manifest(storage, prefix, manifest)
    return manifest


async def _count(events: EventStore, manifest: ExportManifest) -> int:
    """The events an export still has to write, for progress reports (an estimate when a
    category filter applies: the count of every category)."""
    if manifest.complete:
        return manifest.events
    left = await events.count_events(after=manifest.exported_to)
    beyond = await events.count_events(after=manifest.up_to)
    return manifest.events + max(0, left - beyond)


async def _write_chunk(
    storage: ObjectStorage, prefix: str, manifest: ExportManifest, batch: list[RecordedEvent]
) -> ExportManifest:
    key = chunk_key(len(manifest.chunks) + 1)
    data, digest = encode_chunk(batch)
    await storage.put(_prefixed(prefix, key), data, content_type="application/gzip")
    chunk = Chunk(key, batch[0].position, batch[-1].position, len(batch), digest, len(data))
    manifest = replace(manifest, chunks=(*manifest.chunks, chunk))
    await _write_manifest(storage, prefix, manifest)
    return manifest


async def _write_manifest(storage: ObjectStorage, prefix: str, manifest: ExportManifest) -> None:
    key = _prefixed(prefix, MANIFEST)
    await storage.put(key, manifest.to_json(), content_type="application/json")


async def import_events(
    storage: ObjectStorage,
    prefix: str,
    events: EventStore,
    *,
    batch_events: int = 1_000,
    on_progress: Callable[[TransferProgress], None] | None = None,
) -> ImportReport:
    """Append the export under ``prefix`` to ``events``, chunk by chunk, in feed order.

    Each chunk's size and SHA-256 are checked before any of its events is appended
    (``ExportCorrupted`` otherwise). Events go in ``append_many`` batches of up to
    ``batch_events``, each stream's part expecting the version before its first event, so
    a stream the target already holds other events of raises ``InvalidInputError`` (import
    into an empty store, or one without those streams). Run again after an interruption, it
    skips the chunks already imported (their last event is there) and re-appends the rest
    (a batch stored before the interruption is recognised by its event ids and not stored
    twice). An incomplete export is refused.
    """
    if batch_events < 1:
        raise InvalidInputError(f"batch_events must be at least 1, got {batch_events}")
    manifest = await read_manifest(storage, prefix)
    where = _prefixed(prefix, MANIFEST)
    if manifest is None:
        raise InvalidInputError(f"no export at {where!r}: nothing to import")
    if not manifest.complete:
        raise InvalidInputError(
            f"the export at {where!r} is not complete: run the export again to finish it"
        )
    started = time.perf_counter()
    imported = skipped = 0
    for chunk in manifest.chunks:
        key = _prefixed(prefix, chunk.key)
        try:
            data = await storage.get(key)
        except NotFoundError:
            raise ExportCorrupted(f"{key}: the manifest names it but it is missing") from None
        chunk_events = decode_chunk(data, chunk, key)
        if await _already_there(events, chunk_events[-1], key):
            skipped += len(chunk_events)
        else:
            for start in range(0, len(chunk_events), batch_events):
                await _append(events, chunk_events[start : start + batch_events], key)
            imported += len(chunk_events)
        if on_progress is not None:
            on_progress(TransferProgress(imported + skipped, manifest.events))
    seconds = time.perf_counter() - started
    return ImportReport(imported, skipped, len(manifest.chunks), seconds)


async def _already_there(events: EventStore, last: RecordedEvent, where: str) -> bool:
    """Whether the chunk ending with ``last`` was imported (its last event is stored);
    ``InvalidInputError`` when another event holds that place."""
    found = await events.read_stream(last.stream_id, from_version=last.version, limit=1)
    if not found:
        return False
    if found[0].event_id != last.event_id:
        raise InvalidInputError(
            f"{where}: the target's stream {last.stream_id!r} holds another event at version"
            f" {last.version}: import into an empty store, or one without these streams"
        )
    return True


async def _append(events: EventStore, batch: list[RecordedEvent], where: str) -> None:
    parts = [
        StreamAppend(
            run[0].stream_id,
            [NewEvent(e.event_type, e.data, e.metadata, e.event_id) for e in run],
            run[0].version - 1,
        )
        for run in runs(batch)
    ]
    try:
        await events.append_many(parts)
    except ConcurrencyError as error:
        raise InvalidInputError(
            f"{where}: the target already holds other events of a stream of this export"
            f" ({error}): import into an empty store, or one without these streams"
        ) from error
