"""The recorders' work as coroutines on a forze store (run on the bridge's loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

from eventsourcing.persistence import IntegrityError, Notification, StoredEvent, Tracking

from forze.contracts import EventStore, NewEvent, RecordedEvent
from forze.domain.errors import ConcurrencyError
from forze_eventsourcing._mapping import (
    new_event,
    new_tracking,
    notification,
    stored_event,
    stored_version,
    stream_id,
    tracked_id,
    translated_errors,
)

__all__ = ["MAX_ATTEMPTS", "PAGE", "Records"]

MAX_ATTEMPTS = 20
"""Appends tried before an insert that keeps meeting concurrent writes gives up."""

PAGE = 500
"""Events read at a time by scans of a stream or a category."""

_Part = tuple[str, Sequence[NewEvent], int]


@dataclass(slots=True)
class Records:
    """One recorder's view of the store: its events' category and its tracking category."""

    store: EventStore
    category: str
    tracking_category: str
    _scanned: int = field(default=0)
    """The highest position of ``category`` seen so far (``max_notification_id``)."""

    async def _last(self, stream: str) -> RecordedEvent | None:
        page = await self.store.read_stream(stream, backwards=True, limit=1)
        return page[0] if page else None

    async def insert(self, events: Sequence[StoredEvent], tracking: Tracking | None) -> list[int]:
        """Append ``events`` (and ``tracking``) atomically: their notification ids (the
        positions of ``events``, in order). A version not above the originator's last one,
        or a tracking id not above the application's last one, raises ``IntegrityError``."""
        with translated_errors():
            for _ in range(MAX_ATTEMPTS):
                parts, counts = await self._plan(events, tracking)
                if not parts:
                    return []
                try:
                    results = await self.store.append_many(parts)
                except ConcurrencyError:
                    continue  # a stream moved since it was read: check again
                positions: list[int] = []
                for result, count in zip(results, counts, strict=True):
                    positions.extend(range(result.position - count + 1, result.position + 1))
                return positions
        raise IntegrityError(f"concurrent writes kept conflicting for {MAX_ATTEMPTS} attempts")

    async def _plan(
        self, events: Sequence[StoredEvent], tracking: Tracking | None
    ) -> tuple[list[_Part], list[int]]:
        """The parts of one ``append_many`` (a part per run of one originator's events, in
        order, each at the exact version its stream will be at) and how many events of each
        part are notifications."""
        streams = {str(e.originator_id): stream_id(self.category, e.originator_id) for e in events}
        tracking_stream = (
            None
            if tracking is None
            else stream_id(self.tracking_category, tracking.application_name)
        )
        names = [*streams.values(), *([] if tracking_stream is None else [tracking_stream])]
        lasts = await asyncio.gather(*(self._last(name) for name in names))
        heads: dict[str, tuple[int, int | None]] = {}
        for name, last in zip(names, lasts, strict=True):
            if last is None:
                heads[name] = (0, None)
            else:
                top = None if name == tracking_stream else stored_version(last)
                heads[name] = (last.version, top)
        parts: list[_Part] = []
        counts: list[int] = []
        run: list[NewEvent] = []
        run_stream = ""
        for event in events:
            name = streams[str(event.originator_id)]
            version, top = heads[name]
            if top is not None and event.originator_version <= top:
                raise IntegrityError(
                    f"version {event.originator_version} of {event.originator_id} is not"
                    f" above its last recorded version {top}"
                )
            if name != run_stream and run:
                self._close_run(parts, counts, heads, run_stream, run)
                run = []
            run_stream = name
            run.append(new_event(event))
            heads[name] = (version, event.originator_version)
        if run:
            self._close_run(parts, counts, heads, run_stream, run)
        if tracking is not None and tracking_stream is not None:
            last = lasts[-1]
            if last is not None and tracking.notification_id <= tracked_id(last):
                raise IntegrityError(
                    f"tracking id {tracking.notification_id} of {tracking.application_name!r}"
                    f" is not above its last recorded id {tracked_id(last)}"
                )
            version = 0 if last is None else last.version
            parts.append((tracking_stream, [new_tracking(tracking.notification_id)], version))
            counts.append(0)
        return parts, counts

    @staticmethod
    def _close_run(
        parts: list[_Part],
        counts: list[int],
        heads: dict[str, tuple[int, int | None]],
        name: str,
        run: list[NewEvent],
    ) -> None:
        version, top = heads[name]
        parts.append((name, run, version))
        counts.append(len(run))
        heads[name] = (version + len(run), top)

    async def select_events(
        self,
        originator_id: UUID | str,
        gt: int | None,
        lte: int | None,
        desc: bool,
        limit: int | None,
    ) -> list[StoredEvent]:
        """An originator's records with versions in ``(gt, lte]``, ascending or descending,
        at most ``limit``: the stream is read in pages and the scan stops at the bounds
        (recorded versions increase along the stream)."""
        name = stream_id(self.category, originator_id)
        found: list[StoredEvent] = []
        if limit is not None and limit <= 0:
            return found
        cursor: int | None = None
        size = min(PAGE, limit or PAGE) if lte is None or not desc else PAGE
        with translated_errors():
            while True:
                page = await self.store.read_stream(
                    name, from_version=cursor, limit=size, backwards=desc
                )
                for event in page:
                    version = stored_version(event)
                    if desc and lte is not None and version > lte:
                        continue
                    if not desc and gt is not None and version <= gt:
                        continue
                    if (desc and gt is not None and version <= gt) or (
                        not desc and lte is not None and version > lte
                    ):
                        return found
                    found.append(stored_event(event))
                    if limit is not None and len(found) >= limit:
                        return found
                if len(page) < size:
                    return found
                cursor = page[-1].version + (-1 if desc else 1)
                if cursor < 1:
                    return found
                size = PAGE

    async def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None,
        topics: Sequence[str],
        inclusive_of_start: bool,
    ) -> list[Notification]:
        """The category's events with positions from ``start`` (or after it) to ``stop``."""
        after = 0 if start is None else max(0, start - 1 if inclusive_of_start else start)
        if limit <= 0 or (stop is not None and stop <= after):
            return []
        with translated_errors():
            page = await self.store.read_all(
                after=after,
                limit=limit,
                event_types=list(topics) or None,
                categories=[self.category],
            )
        return [notification(e) for e in page if stop is None or e.position <= stop]

    async def max_notification_id(self) -> int | None:
        """The highest position of the category (``None`` when it has no event): scans the
        category forward from the highest position seen so far."""
        with translated_errors():
            while True:
                page = await self.store.read_all(
                    after=self._scanned, limit=PAGE, categories=[self.category]
                )
                if page:
                    self._scanned = max(self._scanned, page[-1].position)
                if len(page) < PAGE:
                    return self._scanned or None

    async def max_tracking_id(self, application_name: str) -> int | None:
        """The last notification id tracked for ``application_name``, or ``None``."""
        with translated_errors():
            last = await self._last(stream_id(self.tracking_category, application_name))
        return None if last is None else tracked_id(last)
