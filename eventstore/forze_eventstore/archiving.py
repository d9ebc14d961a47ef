"""Archiving cold streams: their events move to object storage, their reads stay whole.

``archive_cold_streams`` finds the streams an :class:`ArchivePolicy` calls cold (closed by
one of some event types, quiet for some time, or both), writes each one's events, all but
its last, as segments (gzip-compressed JSON lines, the export format) to an
``ObjectStorage``, reads each object back to check it, and only then lets the store delete
the events, leaving a segment row that names the object. The stream's last event stays in
the store: its version, appends and concurrency checks are unchanged.

Reading:

- ``ArchivedReads(store, storage)`` reads a stream whole, archived part and all (slower the
  first time: an object fetch per segment; recent segments are cached). An aggregate loads
  as before through it; a runtime with ``archive_storage`` wires it.
- The store read directly raises ``StreamArchived`` for a read that reaches archived
  versions, never a stream with a hole in it.
- ``read_all`` and ``subscribe`` return what is still in the store: archived events are gone
  from the feed (their positions are skipped). A projection rebuilt after archiving does not
  see them; rebuild before archiving, or keep the projections archiving would break on
  streams that are never cold. ``count_events`` counts what remains.
- The ids of archived events leave the store with them: re-appending one is no longer
  recognised as a retry (a retry that late is not one).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from forze.contracts import ObjectStorage, RecordedEvent
from forze.domain.errors import ConcurrencyError, InvalidInputError, StreamArchived
from forze_eventstore._archive_kit import ArchivedSegment, StreamArchives
from forze_eventstore._archived_reads import (
    ArchiveCorrupted,
    ArchivedReads,
    reading_archive,
    without_archive,
)
from forze_eventstore._export_format import encode_chunk

__all__ = [
    "ArchiveCorrupted",
    "ArchivePolicy",
    "ArchiveReport",
    "ArchivedReads",
    "archive_cold_streams",
    "reading_archive",
    "without_archive",
]

SEGMENT_EVENTS = 10_000
"""The most events one segment object holds (a longer stream gets several)."""


@dataclass(frozen=True, slots=True)
class ArchivePolicy:
    """Which streams are cold: every condition given must hold for the stream's last event.

    ``closed_by``: its type is one of these (``{"AccountClosed"}``). ``older_than``: it was
    recorded at least this long ago. ``categories``: only streams of these categories are
    considered (all when ``None``). At least one of ``closed_by`` and ``older_than``.
    """

    closed_by: frozenset[str] = frozenset()
    older_than: timedelta | None = None
    categories: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if not self.closed_by and self.older_than is None:
            raise InvalidInputError("an archive policy needs closed_by, older_than or both")
        if self.older_than is not None and self.older_than <= timedelta(0):
            raise InvalidInputError(f"older_than must be positive, not {self.older_than}")

    def is_cold(self, last: RecordedEvent, now: datetime) -> bool:
        """Whether a stream whose last event is ``last`` is cold at ``now``."""
        if self.closed_by and last.event_type not in self.closed_by:
            return False
        return self.older_than is None or now - last.recorded_at >= self.older_than


@dataclass(frozen=True, slots=True)
class ArchiveReport:
    """What ``archive_cold_streams`` did: ``streams`` archived (or that would be, on a dry
    run), ``events`` moved in ``segments`` objects of ``bytes`` bytes in all, ``raced``
    streams another archiver was first on, in ``seconds``."""

    streams: int
    events: int
    segments: int
    bytes: int
    raced: int
    seconds: float


def _segment_key(prefix: str, stream_id: str, first: int, last: int) -> str:
    """The object key of a stream's segment: the stream id's SHA-256 stands in for the id,
    which may hold any character."""
    digest = hashlib.sha256(stream_id.encode()).hexdigest()
    head = f"{prefix.rstrip('/')}/" if prefix else ""
    return f"{head}{digest[:2]}/{digest}/{first:010d}-{last:010d}.jsonl.gz"


async def archive_cold_streams(
    store: StreamArchives,
    storage: ObjectStorage,
    policy: ArchivePolicy,
    *,
    prefix: str = "archive",
    now: datetime | None = None,
    dry_run: bool = False,
    concurrency: int = 8,
    on_stream: Callable[[str, int], None] | None = None,
) -> ArchiveReport:
    """Move the events of every cold stream (all but its last) to ``storage`` under
    ``prefix``, ``concurrency`` streams at a time; see the module docstring. Run it again at
    will: it archives only what is not archived yet, and two archivers at once never lose
    or duplicate an event. ``on_stream(stream_id, events)`` hears of each stream archived."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidInputError(f"concurrency must be an int >= 1, not {concurrency!r}")
    started = time.perf_counter()
    moment = now or datetime.now(UTC)
    tally = _Tally()
    categories: Collection[str | None] = (
        [None] if policy.categories is None else sorted(policy.categories)
    )
    for category in categories:
        pending = iter(await store.list_streams(category=category))

        async def work(pending: Iterator[tuple[str, int]]) -> None:
            for stream_id, version in pending:  # the workers share the one iterator
                moved = await _consider(
                    store, storage, policy, prefix, moment, dry_run, stream_id, version, tally
                )
                if moved and on_stream is not None:
                    on_stream(stream_id, moved)

        await asyncio.gather(*(work(pending) for _ in range(concurrency)))
    return ArchiveReport(
        tally.streams,
        tally.events,
        tally.segments,
        tally.bytes,
        tally.raced,
        time.perf_counter() - started,
    )


@dataclass
class _Tally:
    """What an archiving run did so far."""

    streams: int = 0
    events: int = 0
    segments: int = 0
    bytes: int = 0
    raced: int = 0


async def _consider(
    store: StreamArchives,
    storage: ObjectStorage,
    policy: ArchivePolicy,
    prefix: str,
    moment: datetime,
    dry_run: bool,
    stream_id: str,
    version: int,
    tally: _Tally,
) -> int:
    """Archive ``stream_id`` (at ``version``) if it is cold and not archived yet; how many
    events it moved."""
    if version < 2:
        return 0
    last = await store.read_stream(stream_id, backwards=True, limit=1)
    if not last or not policy.is_cold(last[0], moment):
        return 0
    known = await store.archived_segments(stream_id)
    through = known[-1].last_version if known else 0
    if through >= version - 1:
        return 0
    if dry_run:
        tally.streams, tally.events = tally.streams + 1, tally.events + version - 1 - through
        return 0
    moved = await _archive_stream(store, storage, prefix, stream_id, through, version)
    if moved is None:
        tally.raced += 1
        return 0
    count = sum(s.events for s in moved)
    tally.streams += 1
    tally.events += count
    tally.segments += len(moved)
    tally.bytes += sum(s.bytes for s in moved)
    return count


async def _archive_stream(
    store: StreamArchives,
    storage: ObjectStorage,
    prefix: str,
    stream_id: str,
    through: int,
    version: int,
) -> list[ArchivedSegment] | None:
    """Archive versions ``through + 1`` to ``version - 1``; ``None`` when another archiver
    was first."""
    moved: list[ArchivedSegment] = []
    while through < version - 1:
        count = min(SEGMENT_EVENTS, version - 1 - through)
        try:
            page = await store.read_stream(stream_id, from_version=through + 1, limit=count)
        except StreamArchived:  # another archiver moved these versions meanwhile
            return moved or None
        data, sha256 = encode_chunk(page)
        first, last = page[0], page[-1]
        key = _segment_key(prefix, stream_id, first.version, last.version)
        await storage.put(key, data, content_type="application/gzip")
        if hashlib.sha256(await storage.get(key)).hexdigest() != sha256:
            raise ArchiveCorrupted(f"{key}: the object read back differs from what was written")
        segment = ArchivedSegment(
            stream_id,
            first.version,
            last.version,
            first.position,
            last.position,
            key,
            sha256,
            len(data),
            datetime.now(UTC),
        )
        try:
            await store.archive_segment(segment)
        except ConcurrencyError:
            return moved or None
        moved.append(segment)
        through = last.version
    return moved
