"""``MongoEventStore``: the event store on MongoDB (PyMongo's asyncio client)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Collection, Sequence
from datetime import UTC, datetime
from typing import Any

import pymongo
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from forze.contracts import (
    AppendResult,
    ExpectedVersion,
    ExpectedVersionArg,
    NewEvent,
    RecordedEvent,
)
from forze.domain.errors import EventStoreUnavailable, InvalidInputError
from forze_eventstore import EventLimits
from forze_eventstore.adapter_kit import (
    DEFAULT_LIMITS,
    ArchivedSegment,
    KnownVersions,
    check_expected_version,
    check_read_all,
    check_segment,
    idempotent_result,
    subscribe_to,
    validate_append,
    validate_batch,
)
from forze_mongo._archive import COLLECTION, Segments
from forze_mongo._event_docs import Encoded, encode_events, event_documents, stored_id
from forze_mongo._event_reads import EventReads
from forze_mongo._ledger import Ledger
from forze_mongo._wakeups import Wakeups
from forze_mongo.database import Document, MongoDatabase

__all__ = ["MongoEventStore"]

Part = tuple[str, Sequence[NewEvent], ExpectedVersionArg]


class MongoEventStore(EventReads):
    """An ``EventStore`` on MongoDB whose feed is gap-safe without transactions or locks.

    Events live in the ``events`` collection (one document per event, ``_id`` = position,
    unique indexes on ``(stream_id, version)`` and ``event_id``) beside one *head* document
    in ``event_head``. An append reserves its positions in the head, inserts its events and
    marks the reservation finished; readers read up to just below the oldest unfinished
    reservation. Every step is a single-document operation, so appends are atomic on any
    MongoDB deployment (a standalone server included) and concurrent writers of different
    streams never conflict; ``forze_mongo._ledger`` explains why no reader ever skips an
    event. Positions increase but are not consecutive.

    A writer that dies mid-append holds back the feed's readers for at most
    ``append_lease`` seconds; then its reservation is given up and its events deleted. An
    append that outlives its lease fails with a transient ``EventStoreUnavailable`` and
    stores nothing, so keep the lease above the time an append takes under load.

    The store remembers the last visible version of up to ``remembered_streams`` streams it
    appended to, so that the next append to one of them needs no read first (the unique
    index refuses it when another writer got there first, and the store then reads the
    stream and tries again). This relies on visible events never being deleted: after
    deleting events behind the store's back, call :meth:`forget_versions`.

    Subscribers in this process are woken by every append; elsewhere a change stream on the
    head wakes them (MongoDB offers change streams on replica sets only), and every
    subscriber also polls each ``poll_interval`` seconds: a lost change stream costs
    latency, never events.

    Cold streams can be archived (``forze_eventstore.archive_cold_streams``): their events
    but the last leave the store, a segment document in ``archived_segments`` names where
    they went (``forze_mongo._archive``), and a stream read that reaches them raises
    ``StreamArchived``.
    """

    def __init__(
        self,
        db: MongoDatabase,
        *,
        poll_interval: float = 0.5,
        append_lease: float = 5.0,
        remembered_streams: int = 10_000,
        limits: EventLimits = DEFAULT_LIMITS,
    ) -> None:
        if isinstance(append_lease, bool) or not isinstance(append_lease, int | float):
            raise InvalidInputError(f"append_lease must be seconds > 0, got {append_lease!r}")
        if append_lease <= 0:
            raise InvalidInputError(f"append_lease must be seconds > 0, got {append_lease!r}")
        self.db = db
        self._limits = limits
        self._events = db.collection("events")
        self._heads = db.collection("event_head")
        self._ledger = Ledger(self._heads, self._events, lease=float(append_lease))
        self._segments = Segments(db.collection(COLLECTION), self._events)
        self._wakeups = Wakeups(self._heads, poll_interval=poll_interval)
        self._known = KnownVersions(remembered_streams)
        self._owns_db = False

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        database: str | None = None,
        prefix: str = "forze_",
        poll_interval: float = 0.5,
        append_lease: float = 5.0,
        limits: EventLimits = DEFAULT_LIMITS,
    ) -> MongoEventStore:
        """A store on a new client for ``url`` (closed by :meth:`close`), its collections
        and indexes created (see ``MongoDatabase.connect`` for ``database`` and ``prefix``;
        build a ``MongoDatabase`` yourself for other timeouts or client options)."""
        db = MongoDatabase.connect(url, database=database, prefix=prefix)
        store = cls(db, poll_interval=poll_interval, append_lease=append_lease, limits=limits)
        store._owns_db = True
        try:
            await store.migrate()
        except BaseException:
            await store.close()
            raise
        return store

    async def migrate(self) -> None:
        """Create the indexes and the head document (idempotent; it also brings a database
        migrated by an older forze up to date)."""
        with self.db.operation("create the event collections"):
            await self._events.create_indexes(
                [
                    IndexModel(
                        [("stream_id", ASCENDING), ("version", ASCENDING)],
                        name="stream_version",
                        unique=True,
                    ),
                    IndexModel([("event_id", ASCENDING)], name="event_id", unique=True),
                    IndexModel([("commit", ASCENDING)], name="commit"),
                ]
            )
            await self._ledger.create()
            await self._ledger.check(self._where())
            await self._segments.create()
            await self._ledger.raise_format()

    async def check_schema(self) -> None:
        """Refuse, writing nothing, a database without this store's head document (no forze
        event store there: a wrong database or prefix) or one written by a newer forze, with
        a non-transient ``EventStoreUnavailable`` naming it. Inspection tools call this
        instead of :meth:`migrate`."""
        with self.db.operation("check the event store"):
            await self._ledger.check(self._where())

    def _where(self) -> str:
        return f"MongoDB database {self.db.name!r} (prefix {self.db.prefix!r})"

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersionArg = ExpectedVersion.ANY,
    ) -> AppendResult:
        """See ``EventStore.append``."""
        part = validate_append(stream_id, events, expected_version, limits=self._limits)
        return (await self._store([part]))[0]

    async def append_many(self, appends: Sequence[Part]) -> list[AppendResult]:
        """See ``EventStore.append_many``: every part in one reservation, so the batch
        becomes visible at once or not at all."""
        batch = validate_batch(appends, limits=self._limits)
        return await self._store(batch) if batch else []

    async def _store(self, parts: Sequence[Part]) -> list[AppendResult]:
        encoded = [encode_events(stream, events, self._limits) for stream, events, _ in parts]
        results: list[AppendResult | None] = [None] * len(parts)
        with self.db.operation(f"append to {parts[0][0][:80]!r}"):
            known = self._known.next_version(parts[0][0], parts[0][2])
            stored = None
            if len(parts) == 1 and known is not None:  # no reads: see KnownVersions
                stored = await self._insert(parts, encoded, {0: known})
            while stored is None:
                versions = await self._versions({stream for stream, _, _ in parts})
                plan = await self._plan(parts, results, versions)
                if not plan:
                    break
                stored = await self._insert(parts, encoded, plan)
                if stored is None:
                    await self._resolve_duplicates(parts, results, versions, plan)
        for index, fresh in (stored or {}).items():
            results[index] = fresh
        self._wakeups.signal.notify()
        done = [result for result in results if result is not None]
        for result in done:
            self._known.saw(result.stream_id, result.version)
        return done

    async def _versions(self, streams: set[str]) -> dict[str, int]:
        """The head and each stream's last version, waiting for an unfinished append at a
        stream's end to finish (or be given up): a new event never follows one that may
        yet vanish. (A version read too low only costs a refused insert and a retry.)"""
        ordered = sorted(streams)
        head, tops = await asyncio.gather(
            self._ledger.current(), asyncio.gather(*(self._top(stream) for stream in ordered))
        )
        versions = {}
        for stream, top in zip(ordered, tops, strict=True):
            while top is not None and not head.shows(top["commit"], top["_id"]):
                commit = top["commit"]
                if commit in head.void:  # a straggler of an append given up
                    await self._events.delete_many({"commit": commit})
                elif commit in head.open:
                    head = await self._ledger.settle(commit)
                else:  # reserved after the head was read
                    head = await self._ledger.current()
                top = await self._top(stream)
            versions[stream] = 0 if top is None else int(top["version"])
        return versions

    async def _top(self, stream: str) -> Document | None:
        return await self._events.find_one(
            {"stream_id": stream}, {"version": 1, "commit": 1}, sort=[("version", DESCENDING)]
        )

    async def _plan(
        self,
        parts: Sequence[Part],
        results: list[AppendResult | None],
        versions: dict[str, int],
    ) -> dict[int, int]:
        """The first version of each part still to store; parts whose expected version
        does not hold are settled here (an idempotent re-send, or ``ConcurrencyError``)."""
        plan: dict[int, int] = {}
        at = dict(versions)
        for index, (stream, events, expected) in enumerate(parts):
            if results[index] is not None:
                continue
            if not _holds(expected, at[stream]):
                results[index] = await self._resent(stream, events, expected, at[stream])
                continue
            plan[index] = at[stream] + 1
            at[stream] += len(events)
        return plan

    async def _insert(
        self, parts: Sequence[Part], encoded: list[Encoded], plan: dict[int, int]
    ) -> dict[int, AppendResult] | None:
        """Reserve, insert and finalize the planned parts; ``None`` when a unique index
        refused an event (a concurrent writer's version, or a reused id)."""
        token, first = await self._ledger.reserve(sum(len(parts[i][1]) for i in plan))
        now = datetime.now(UTC)
        documents: list[Document] = []
        results: dict[int, AppendResult] = {}
        for index, version in plan.items():
            stream = parts[index][0]
            position = first + len(documents)
            documents.extend(
                event_documents(
                    stream,
                    encoded[index],
                    first_version=version,
                    first_position=position,
                    commit=token,
                    now=now,
                )
            )
            results[index] = AppendResult(
                stream, int(documents[-1]["version"]), len(documents) + first - 1
            )
        try:
            with pymongo.timeout(self._ledger.lease * 0.8):
                await self._events.insert_many(documents, ordered=True)
                finished = await self._ledger.finalize(token)
        except (BulkWriteError, DuplicateKeyError):
            await self._ledger.give_up(token, stragglers=False)
            return None
        except BaseException:
            await self._give_up_quietly(token)
            raise
        if not finished:
            await self._give_up_quietly(token)
            raise EventStoreUnavailable(
                f"an append took longer than its {self._ledger.lease} s lease (a slow network"
                " or server) and was given up: nothing was stored",
                transient=True,
            )
        return results

    async def _give_up_quietly(self, token: str) -> None:
        """Undo an append whose writes may still land; a reaper does it if this fails."""
        with contextlib.suppress(PyMongoError), pymongo.timeout(self.db.timeout):
            await asyncio.shield(self._ledger.give_up(token, stragglers=True))

    async def _resolve_duplicates(
        self,
        parts: Sequence[Part],
        results: list[AppendResult | None],
        versions: dict[str, int],
        plan: dict[int, int],
    ) -> None:
        """After a unique index refused an event: settle parts whose ids are stored (an
        idempotent re-send, or ``DuplicateEventIdError``); the rest are tried again."""
        for index in plan:
            stream, events, expected = parts[index]
            stored = await self._stored(events)
            if any(place is not None for place in stored):
                original = idempotent_result(stream, events, expected, stored, versions[stream])
                assert original is not None  # some id is stored: a result or an error
                results[index] = original

    async def _resent(
        self, stream: str, events: Sequence[NewEvent], expected: ExpectedVersionArg, actual: int
    ) -> AppendResult:
        """The original result of a re-sent append, or the error an append off its
        expected version gets."""
        original = idempotent_result(stream, events, expected, await self._stored(events), actual)
        if original is None:
            check_expected_version(stream, expected, actual)
            raise AssertionError("the expected version held after all")  # pragma: no cover
        return original

    async def _stored(self, events: Sequence[NewEvent]) -> list[Any]:
        """Where each event's id is stored and visible (``None`` where it is not)."""
        ids = [str(event.event_id) for event in events]
        while True:
            head = await self._ledger.current()
            found = {
                doc["event_id"]: doc
                for doc in await self._events.find({"event_id": {"$in": ids}}).to_list()
            }
            late = [doc for doc in found.values() if doc["_id"] >= head.next]
            if late:
                continue  # reserved after the head was read: read both again
            waiting = {doc["commit"] for doc in found.values() if doc["commit"] in head.open}
            if not waiting:
                break
            for commit in waiting:
                await self._ledger.settle(commit)
        return [
            stored_id(found[i])
            if i in found and head.shows(found[i]["commit"], found[i]["_id"])
            else None
            for i in ids
        ]

    async def archive_segment(self, segment: ArchivedSegment) -> None:
        """See ``StreamArchives.archive_segment``: without a transaction, recording the
        segment is the commit point and a unique index decides a race between archivers
        (``forze_mongo._archive`` gives the argument)."""
        check_segment(segment)
        versions = f"{segment.first_version}..{segment.last_version}"
        with self.db.operation(f"archive versions {versions} of {segment.stream_id[:80]!r}"):
            await self._segments.record(segment, self._visible_version)

    def subscribe(
        self,
        *,
        after: int = 0,
        event_types: Collection[str] | None = None,
        categories: Collection[str] | None = None,
    ) -> AsyncGenerator[RecordedEvent, None]:
        """See ``EventStore.subscribe``: woken by appends and the head's change stream,
        polling as the safety net."""
        check_read_all(after, None, event_types, categories)
        self._wakeups.start()
        return subscribe_to(
            self,
            self._wakeups.signal,
            after=after,
            event_types=event_types,
            categories=categories,
            poll_interval=self._wakeups.poll_interval,
            page_bytes=self._limits.page_bytes,
        )

    def forget_versions(self) -> None:
        """Forget the streams' versions this store remembers (see the class docstring)."""
        self._known.forget()

    async def close(self) -> None:
        """Stop watching the head; close the client too when :meth:`open` made it."""
        await self._wakeups.close()
        if self._owns_db:
            await self.db.close()


def _holds(expected: ExpectedVersionArg, actual: int) -> bool:
    if expected is ExpectedVersion.ANY:
        return True
    if expected is ExpectedVersion.NO_STREAM:
        return actual == 0
    if expected is ExpectedVersion.STREAM_EXISTS:
        return actual > 0
    return expected == actual
