"""Copying an ``eventsourcing`` application's database into a forze store.

:func:`import_eventsourcing` reads the stored events of eventsourcing's PostgreSQL or SQLite
application recorder in notification order and appends them to a forze store exactly as
this package's recorders would have written them (see the package docstring's mapping): the
same application, given ``PERSISTENCE_MODULE=forze_eventsourcing`` and ``FORZE_STORE``
naming that store, then finds every aggregate it had, at the same versions.

- **Order and versions.** Each originator's events keep their order and their
  ``originator_version``; the store's feed keeps the source's notification order. The
  notification ids themselves change: they become the store's positions.
- **Batches and resuming.** Events go in ``append_many`` calls of ``batch_events``, each
  with one more event: the import's progress, in the stream
  ``eventsourcing_import-{category}`` (``data``: the last notification id copied, the
  events copied and their count per topic). Both commit together, so a run killed at any
  moment leaves whole batches, and the next run goes on after the last one. Run again
  after the source has grown, an import copies only the new events.
- **Event ids** are derived from the category and the notification id, so the same source
  event always has the same forze event id.
- **Throughput.** The next page is read while a batch is appended;
  ``benchmarks/eventsourcing_import.py`` compares the import with a copy through
  eventsourcing's own recorders.
- **Conflicts.** Every stream's part expects the version the import last left it at (0 on
  a first run): a target that already holds the application's streams, or an application
  already writing to the target, raises ``InvalidInputError`` naming the stream; nothing of
  that batch is stored.
- **Not copied.** Snapshots (the application takes new ones) and tracking records (they
  hold the upstream's old notification ids, which the import changes).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from eventsourcing.persistence import StoredEvent

from forze.contracts import EventStore, NewEvent, StreamAppend
from forze.domain.errors import ConcurrencyError, InvalidInputError
from forze_eventsourcing._mapping import category_name, new_event, stream_id
from forze_eventsourcing._source import SourceRecord, open_source
from forze_eventstore import TransferProgress

__all__ = ["IMPORT_CATEGORY", "EventsourcingImport", "import_eventsourcing"]

IMPORT_CATEGORY = "eventsourcing_import"
"""The category of the streams recording each import's progress."""

_PROGRESS_TYPE = "eventsourcing.Imported"
_IDS = uuid.UUID("5f6c0d8e-3c55-4a8e-9d07-6f1f3e8b2a10")
"""The namespace of imported events' ids (UUID 5 of ``{category}/{notification id}``)."""


@dataclass(frozen=True, slots=True)
class EventsourcingImport:
    """What :func:`import_eventsourcing` did.

    ``imported`` events were copied by this run and ``earlier`` by earlier runs, up to the
    source's notification id ``last_notification_id``. ``topics`` counts every imported
    event (of all runs) by topic; ``unmapped`` are the topics no name of ``known_types``
    matches (every topic when none were given).
    """

    table: str
    category: str
    imported: int
    earlier: int
    last_notification_id: int
    topics: Mapping[str, int]
    unmapped: tuple[str, ...]
    seconds: float


def _application_category(table: str, application: str | None) -> str:
    """The forze category of the events of ``table`` (``{app}_events``, as eventsourcing's
    PostgreSQL recorder names it), or of ``application`` (the application's name, its class
    name unless it sets ``name``) when given. eventsourcing's SQLite recorder names every
    application's table ``stored_events``, so that table needs ``application``."""
    if application is not None:
        return category_name(application, "events")
    name = table.rpartition(".")[2]
    if name == "stored_events" or not name.endswith("_events"):
        raise InvalidInputError(
            f"table {table!r} does not name the application that wrote it: give the"
            " application's name (its class name unless it sets one; 'stored' for an"
            " application without a name)"
        )
    return category_name(name.removesuffix("_events"), "events")


async def import_eventsourcing(
    source_url: str,
    store: EventStore,
    *,
    table: str | None = None,
    application: str | None = None,
    text_ids: bool = False,
    batch_events: int = 1_000,
    known_types: Collection[str] | None = None,
    on_progress: Callable[[TransferProgress], None] | None = None,
) -> EventsourcingImport:
    """Copy the events of the eventsourcing database ``source_url`` (``postgresql://...``
    or ``sqlite:///PATH``) into ``store``, going on after an earlier run's last batch.

    ``table`` is the application recorder's table (default: the only one there);
    ``application`` the application's name when the table is not ``{app}_events``;
    ``text_ids`` keeps a SQLite source's originator ids as text (see
    ``forze_eventsourcing._source.open_source``). ``known_types`` are the forze event
    type names the report checks topics against. Bad options, a source without such a
    table, or a target whose streams moved raise ``InvalidInputError``; an unreachable
    database ``EventStoreUnavailable``.
    """
    if batch_events < 1:
        raise InvalidInputError(f"batch_events must be at least 1, got {batch_events}")
    started = time.perf_counter()
    source = await open_source(source_url, table=table, text_ids=text_ids)
    try:
        category = _application_category(source.table, application)
        copier = _Copier(store, category)
        await copier.resume()
        earlier = copier.events
        total = earlier + await source.count_after(copier.cursor)
        if on_progress is not None:
            on_progress(TransferProgress(earlier, total))
        # the next page is read while this one is appended
        reading = asyncio.ensure_future(source.read_after(copier.cursor, batch_events))
        try:
            while page := await reading:
                reading = asyncio.ensure_future(
                    source.read_after(page[-1].notification_id, batch_events)
                )
                await copier.append(page)
                if on_progress is not None:
                    on_progress(TransferProgress(copier.events, max(total, copier.events)))
        finally:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
    finally:
        await source.close()
    known = set(known_types or ())
    return EventsourcingImport(
        table=source.table,
        category=category,
        imported=copier.events - earlier,
        earlier=earlier,
        last_notification_id=copier.cursor,
        topics=dict(sorted(copier.topics.items())),
        unmapped=tuple(sorted(topic for topic in copier.topics if topic not in known)),
        seconds=time.perf_counter() - started,
    )


class _Copier:
    """Appends pages of source events, with the progress event, one batch at a time."""

    def __init__(self, store: EventStore, category: str) -> None:
        self.store = store
        self.category = category
        self.progress_stream = stream_id(IMPORT_CATEGORY, category)
        self.cursor = 0
        self.events = 0
        self.topics: Counter[str] = Counter()
        self._progress_version = 0
        self._versions: dict[str, int] = {}
        self._resumed = False
        """Whether an earlier run wrote streams (else each new stream is at version 0)."""
        self._base = self._id("events").int

    async def resume(self) -> None:
        """Read where an earlier run stopped."""
        last = await self.store.read_stream(self.progress_stream, backwards=True, limit=1)
        if not last:
            return
        data = last[0].data
        self.cursor = int(data["notification_id"])
        self.events = int(data["events"])
        self.topics = Counter({str(k): int(v) for k, v in data["topics"].items()})
        self._progress_version = last[0].version
        self._resumed = True

    async def append(self, page: list[SourceRecord]) -> None:
        """Append ``page`` and the progress after it in one ``append_many``."""
        names = [stream_id(self.category, record.originator_id) for record in page]
        await self._learn_versions(names)
        versions = dict(self._versions)
        runs: list[tuple[str, list[NewEvent], int]] = []  # a part per run of one stream
        for name, record in zip(names, page, strict=True):
            if not runs or runs[-1][0] != name:
                runs.append((name, [], versions[name]))
            runs[-1][1].append(self._event(record))
            versions[name] += 1
        parts = [StreamAppend(*run) for run in runs]
        topics = self.topics + Counter(record.topic for record in page)
        progress = {
            "notification_id": page[-1].notification_id,
            "events": self.events + len(page),
            "topics": dict(topics),
        }
        parts.append(
            StreamAppend(
                self.progress_stream,
                [
                    NewEvent(
                        _PROGRESS_TYPE,
                        progress,
                        event_id=self._id(f"to/{page[-1].notification_id}"),
                    )
                ],
                self._progress_version,
            )
        )
        try:
            await self.store.append_many(parts)
        except ConcurrencyError as error:
            raise InvalidInputError(
                f"the target store changed under the import ({error}): it already holds"
                f" streams of {self.category}, or another process writes them; import into"
                " a store without them, and stop the application on the target while it runs"
            ) from error
        except InvalidInputError as error:
            raise InvalidInputError(
                f"the events after notification id {self.cursor} cannot be stored: {error}"
            ) from error
        self._versions = versions
        self._progress_version += 1
        self.cursor = page[-1].notification_id
        self.events += len(page)
        self.topics = topics

    async def _learn_versions(self, names: list[str]) -> None:
        """The versions of streams an earlier run may have written (0 on a first run)."""
        unknown = [name for name in dict.fromkeys(names) if name not in self._versions]
        if not self._resumed:
            self._versions.update(dict.fromkeys(unknown, 0))
            return
        lasts = await asyncio.gather(
            *(self.store.read_stream(name, backwards=True, limit=1) for name in unknown)
        )
        for name, last in zip(unknown, lasts, strict=True):
            self._versions[name] = last[0].version if last else 0

    def _event(self, record: SourceRecord) -> NewEvent:
        stored = StoredEvent(
            originator_id=record.originator_id,
            originator_version=record.originator_version,
            topic=record.topic,
            state=record.state,
        )
        return new_event(stored, self._event_id(record.notification_id))

    def _id(self, suffix: str) -> uuid.UUID:
        return uuid.uuid5(_IDS, f"{self.category}/{suffix}")

    def _event_id(self, notification_id: int) -> uuid.UUID:
        """The id of the event of ``notification_id``: the category's UUID 5 with the id in
        its last 48 bits (version and variant bits untouched), else a UUID 5 of its own."""
        if 0 <= notification_id < 1 << 48:
            return uuid.UUID(int=self._base ^ notification_id)
        return self._id(str(notification_id))
