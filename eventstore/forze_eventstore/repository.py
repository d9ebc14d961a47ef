"""``EventSourcedRepository``: aggregates loaded from and saved to event streams."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from forze.contracts import (
    AppendResult,
    EventIds,
    EventStore,
    ExpectedVersion,
    ExpectedVersionArg,
    NewEvent,
    RecordedEvent,
    Snapshot,
    SnapshotStore,
)
from forze.domain.aggregate import Aggregate
from forze.domain.errors import (
    ConcurrencyError,
    DuplicateEventIdError,
    ForzeError,
    InvalidInputError,
    NotFoundError,
    SerializationError,
    StreamNotFound,
    WiringError,
)
from forze.domain.spec import AggregateSpec
from forze.domain.values import DomainEvent
from forze.execution.repository_base import RepositoryBase
from forze_eventstore._input import MAX_VERSION, check_at_most
from forze_eventstore.codec import EventCodec
from forze_eventstore.unit_of_work import EventSourcedUnitOfWork

__all__ = ["EventSourcedRepositories", "EventSourcedRepository"]

A = TypeVar("A", bound=Aggregate[Any])
R = TypeVar("R")

_SCAN_PAGE = 500
"""Events read per page when looking for the ids of a replayed append."""

log = logging.getLogger("forze.repository")


class EventSourcedRepository(RepositoryBase[A]):
    """The ``AggregateRepository`` port over any ``EventStore``.

    Loads use the newest snapshot whose schema version is the spec's current one, then replay
    the tail; saves append pending events expecting the loaded version, so concurrent edits
    raise ``ConcurrencyError``. With ``spec.snapshot_every = N`` a snapshot is stored each time
    the stream crosses a multiple of N (a failed snapshot write is logged, never raised: the
    events are already safe).

    With ``event_ids`` the saved events get the ids it derives (see ``EventIds``) instead of
    random ones. An append whose ids this stream already holds is a replay of the same
    operation (a redelivered message): it returns the earlier append's result, even when the
    replay, run on the newer state, conflicts or built other events, so the operation's
    effect on each stream is applied once.
    """

    def __init__(
        self,
        spec: AggregateSpec[A],
        store: EventStore,
        *,
        codec: EventCodec | None = None,
        snapshots: SnapshotStore | None = None,
        metadata: Mapping[str, Any] | None = None,
        event_ids: EventIds | None = None,
    ) -> None:
        self._spec = spec
        self._event_ids = event_ids
        self._store = store
        self._codec = codec or EventCodec.for_specs(spec)
        self._snapshots = snapshots if spec.snapshot_every else None
        self._metadata = dict(metadata or {})

    @property
    def spec(self) -> AggregateSpec[A]:
        """The spec this repository serves."""
        return self._spec

    async def load(self, aggregate_id: str, *, at_version: int | None = None) -> A:
        """See ``AggregateRepository.load``; ``NotFoundError`` past the stream's version."""
        if at_version is not None:
            if isinstance(at_version, bool) or not isinstance(at_version, int) or at_version < 1:
                raise InvalidInputError(f"at_version must be an int >= 1, got {at_version!r}")
            check_at_most(at_version, MAX_VERSION, "at_version")
        stream_id = self._spec.stream_id(aggregate_id)
        aggregate = self._spec.new(aggregate_id)
        start = await self._restore_snapshot(aggregate, stream_id, at_version)
        limit = None if at_version is None else at_version - start + 1
        recorded = await self._store.read_stream(stream_id, from_version=start, limit=limit)
        if not recorded and aggregate.version == 0:
            raise StreamNotFound(stream_id)
        decode = self._codec.decode
        version = recorded[-1].version if recorded else aggregate.version
        aggregate.replay((decode(event) for event in recorded), version=version)
        if at_version is not None and aggregate.version < at_version:
            raise NotFoundError(f"stream {stream_id!r} has no version {at_version}")
        return aggregate

    async def _restore_snapshot(self, aggregate: A, stream_id: str, at_version: int | None) -> int:
        if self._snapshots is None:
            return 1
        snapshot = await self._snapshots.load(stream_id)
        if snapshot is None or snapshot.schema_version != self._spec.snapshot_version:
            return 1
        if at_version is not None and snapshot.version > at_version:
            return 1
        aggregate.restore_snapshot(snapshot.state)
        aggregate.version = snapshot.version
        return snapshot.version + 1

    async def save(self, aggregate: A) -> AppendResult | None:
        """See ``AggregateRepository.save``."""
        pending = aggregate.pending_events
        if not pending:
            return None
        stream_id = self._spec.stream_id(aggregate.id)
        expected: ExpectedVersionArg = aggregate.version or ExpectedVersion.NO_STREAM
        state = self._snapshot_due(aggregate, len(pending))
        result, replayed = await self._append(stream_id, pending, expected)
        await self._saved(aggregate, result, None if replayed else state)
        return result

    async def _saved(
        self, aggregate: A, result: AppendResult, state: Mapping[str, Any] | None
    ) -> None:
        """Mark ``aggregate``'s pending events stored by ``result``; store the snapshot
        ``state`` due at that version, if any (a failed snapshot write is only logged)."""
        aggregate.mark_saved(result.version)
        if state is None or self._snapshots is None:
            return
        snapshot = Snapshot(result.stream_id, result.version, self._spec.snapshot_version, state)
        try:
            await self._snapshots.save(snapshot)
        except ForzeError as error:
            log.warning(
                "snapshot of %s at version %d not saved: %s",
                result.stream_id,
                result.version,
                error,
            )

    def _snapshot_due(self, aggregate: A, pending: int) -> Mapping[str, Any] | None:
        every = self._spec.snapshot_every
        if self._snapshots is None or every is None:
            return None
        before, after = aggregate.version, aggregate.version + pending
        if after // every == before // every:
            return None
        state = aggregate.snapshot_state()
        if state is None:
            raise SerializationError(
                f"spec {self._spec.name!r} asks for snapshots, but "
                f"{type(aggregate).__name__}.snapshot_state returns None"
            )
        return state

    async def history(self, aggregate_id: str) -> list[DomainEvent]:
        """See ``AggregateRepository.history``."""
        recorded = await self._store.read_stream(self._spec.stream_id(aggregate_id))
        return [self._codec.decode(event) for event in recorded]

    async def append(
        self,
        aggregate_id: str,
        events: Sequence[DomainEvent],
        expected_version: ExpectedVersionArg = ExpectedVersion.ANY,
    ) -> AppendResult:
        """See ``AggregateRepository.append``."""
        for event in events:
            self._spec.event_type_of(event)
        stream_id = self._spec.stream_id(aggregate_id)
        result, _ = await self._append(stream_id, events, expected_version)
        return result

    async def _append(
        self, stream_id: str, events: Sequence[DomainEvent], expected: ExpectedVersionArg
    ) -> tuple[AppendResult, bool]:
        """Encode and append ``events``; the result, and whether it was a replay's."""
        source = self._event_ids
        encoded = self._encoded(stream_id, events)
        try:
            result = await self._store.append(stream_id, encoded, expected)
        except (ConcurrencyError, DuplicateEventIdError):
            earlier = None if source is None else await self._earlier(stream_id, encoded[0])
            if earlier is None:
                raise
            log.info(
                "%s: events %s.. were appended by an earlier run of operation %s;"
                " its result stands",
                stream_id,
                encoded[0].event_id,
                source.seed if source else "",
            )
            return earlier, True
        if source is not None:
            source.saved(stream_id, len(events))
        return result, False

    def _encoded(self, stream_id: str, events: Sequence[DomainEvent]) -> list[NewEvent]:
        """``events`` as envelopes, stamped with this repository's metadata and, with
        ``event_ids``, the next derived ids of ``stream_id`` (not counted as saved yet)."""
        metadata = {**self._metadata, "occurred_at": datetime.now(UTC).isoformat()}
        source = self._event_ids
        ids = None if source is None else source.ids(stream_id, len(events))
        return [
            self._codec.encode(event, metadata, event_id=None if ids is None else ids[n])
            for n, event in enumerate(events)
        ]

    async def _earlier(self, stream_id: str, first: NewEvent) -> AppendResult | None:
        """The result of the earlier append whose first event had ``first``'s id, if this
        stream holds it (read backwards, newest first: a replay follows its original)."""
        version: int | None = None
        while version is None or version > 1:
            page = await self._store.read_stream(
                stream_id,
                from_version=None if version is None else version - 1,
                limit=_SCAN_PAGE,
                backwards=True,
            )
            if not page:
                return None
            found = next((event for event in page if event.event_id == first.event_id), None)
            if found is not None:
                return await self._counted_from(stream_id, found)
            version = page[-1].version
        return None

    async def _counted_from(self, stream_id: str, first: RecordedEvent) -> AppendResult:
        """Count the earlier run's events from ``first`` on (those with the next derived ids)
        as saved; the result of their append."""
        source = self._event_ids
        assert source is not None  # only replays of derived ids get here
        after = await self._store.read_stream(
            stream_id, from_version=first.version, limit=_SCAN_PAGE
        )
        wanted = source.ids(stream_id, len(after))
        mine = [event for event, id_ in zip(after, wanted, strict=True) if event.event_id == id_]
        last = mine[-1] if mine else first
        source.saved(stream_id, max(len(mine), 1))
        return AppendResult(stream_id, last.version, last.position)


class EventSourcedRepositories:
    """The ``AggregateRepositories`` port: one repository per spec over one store.

    One name, one spec: a different ``AggregateSpec`` under a name already used (an old and a
    new version of ``order`` side by side, say) raises ``WiringError`` instead of decoding one
    spec's events with the other's codec.
    """

    def __init__(
        self,
        store: EventStore,
        *,
        snapshots: SnapshotStore | None = None,
        codec: EventCodec | None = None,
    ) -> None:
        self._store = store
        self._snapshots = snapshots
        self._codec = codec
        self._codecs: dict[str, EventCodec] = {}
        self._specs: dict[str, AggregateSpec[Any]] = {}

    @property
    def store(self) -> EventStore:
        """The event store every repository of this registry reads and appends to."""
        return self._store

    @property
    def codec(self) -> EventCodec | None:
        """The codec given for every aggregate, or ``None`` (each spec's own)."""
        return self._codec

    def unit_of_work(
        self, *, metadata: Mapping[str, Any] | None = None, event_ids: EventIds | None = None
    ) -> EventSourcedUnitOfWork:
        """See ``AggregateRepositories.unit_of_work``: the unit appends to :attr:`store`."""
        return EventSourcedUnitOfWork(self, metadata=metadata, event_ids=event_ids)

    def __call__(
        self,
        spec: AggregateSpec[A],
        *,
        metadata: Mapping[str, Any] | None = None,
        event_ids: EventIds | None = None,
    ) -> EventSourcedRepository[A]:
        """The repository for ``spec``, stamping ``metadata`` on every saved event (whose ids
        come from ``event_ids`` when given)."""
        known = self._specs.setdefault(spec.name, spec)
        if known is not spec and known != spec:
            raise WiringError(
                f"two different aggregate specs are named {spec.name!r}: one name, one spec"
                " (its events, upcasters and codec); give the other aggregate its own name"
            )
        codec = self._codec or self._codecs.get(spec.name)
        if codec is None:
            codec = self._codecs[spec.name] = EventCodec.for_specs(spec)
        return EventSourcedRepository(
            spec,
            self._store,
            codec=codec,
            snapshots=self._snapshots,
            metadata=metadata,
            event_ids=event_ids,
        )
