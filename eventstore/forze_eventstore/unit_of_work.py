"""``EventSourcedUnitOfWork``: several aggregates saved in one atomic append.

A unit tracks the aggregates loaded or created through it and, on ``commit``, appends all of
their pending events with one ``EventStore.append_many``: every store keeps that call atomic
(the memory store undoes a failed batch, SQLite and PostgreSQL run it in one transaction, with
their inline projections), so either every stream changes or none does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from forze.contracts import (
    AppendResult,
    EventIds,
    ExpectedVersion,
    ExpectedVersionArg,
    NewEvent,
    StreamAppend,
)
from forze.domain.aggregate import Aggregate
from forze.domain.errors import (
    ConcurrencyError,
    DuplicateEventIdError,
    ForzeError,
    InvalidInputError,
    WiringError,
)
from forze.domain.spec import AggregateSpec
from forze.domain.values import DomainEvent

if TYPE_CHECKING:
    from forze_eventstore.repository import EventSourcedRepositories, EventSourcedRepository

__all__ = ["EventSourcedUnitOfWork", "UnitRepository"]

A = TypeVar("A", bound=Aggregate[Any])
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class _Tracked:
    """An aggregate the unit will save, with the repository of its spec."""

    repository: EventSourcedRepository[Any]
    stream_id: str
    aggregate: Aggregate[Any]

    @property
    def expected(self) -> ExpectedVersionArg:
        return self.aggregate.version or ExpectedVersion.NO_STREAM


class EventSourcedUnitOfWork:
    """The ``UnitOfWork`` port over one ``EventSourcedRepositories`` (so one event store).

    Made by ``EventSourcedRepositories.unit_of_work`` (``ctx.unit_of_work()`` in a usecase).
    Aggregates are tracked by stream: loading one twice gives the same object. ``commit``
    appends every tracked stream's new events in one ``append_many``; a unit commits once.

    With ``event_ids`` (an operation caused by a message), a redelivered message's unit is
    recognised by its derived ids: the streams the earlier run already changed keep that run's
    result, as ``EventSourcedRepository.save`` does for one stream.
    """

    def __init__(
        self,
        repositories: EventSourcedRepositories,
        *,
        metadata: Mapping[str, Any] | None = None,
        event_ids: EventIds | None = None,
    ) -> None:
        self._repositories = repositories
        self._metadata = dict(metadata or {})
        self._event_ids = event_ids
        self._tracked: dict[str, _Tracked] = {}
        self._committed = False

    def aggregates(self, spec: AggregateSpec[A]) -> UnitRepository[A]:
        """See ``UnitOfWork.aggregates``."""
        self._check_open()
        repository = self._repositories(spec, metadata=self._metadata, event_ids=self._event_ids)
        return UnitRepository(self, repository)

    def _check_open(self) -> None:
        if self._committed:
            raise InvalidInputError("this unit of work has committed: start a new one")

    def _tracked_aggregate(self, stream_id: str) -> Aggregate[Any] | None:
        tracked = self._tracked.get(stream_id)
        return None if tracked is None else tracked.aggregate

    def _track(self, repository: EventSourcedRepository[Any], aggregate: Aggregate[Any]) -> None:
        self._check_open()
        stream_id = repository.spec.stream_id(aggregate.id)
        tracked = self._tracked.get(stream_id)
        if tracked is None:
            self._tracked[stream_id] = _Tracked(repository, stream_id, aggregate)
        elif tracked.aggregate is not aggregate:
            raise InvalidInputError(
                f"the unit of work already holds another object for stream {stream_id!r}:"
                " load an aggregate once per unit and change that object"
            )

    async def commit(self) -> list[AppendResult]:
        """See ``UnitOfWork.commit``: nothing to append stores nothing and returns ``[]``."""
        self._check_open()
        self._committed = True
        changed = [t for t in self._tracked.values() if t.aggregate.pending_events]
        if not changed:
            return []
        snapshots = [
            t.repository._snapshot_due(t.aggregate, len(t.aggregate.pending_events))
            for t in changed
        ]
        parts = [
            StreamAppend(
                t.stream_id,
                t.repository._encoded(t.stream_id, t.aggregate.pending_events),
                t.expected,
            )
            for t in changed
        ]
        try:
            results = list(await self._repositories.store.append_many(parts))
            replayed = [False] * len(parts)
        except (ConcurrencyError, DuplicateEventIdError) as error:
            if self._event_ids is None:
                raise
            results, replayed = await self._after_replay(changed, parts, error)
        for tracked, part, result, state, again in zip(
            changed, parts, results, snapshots, replayed, strict=True
        ):
            if not again and self._event_ids is not None:
                self._event_ids.saved(tracked.stream_id, len(part.events))
            await tracked.repository._saved(tracked.aggregate, result, None if again else state)
        return results

    async def _after_replay(
        self, changed: Sequence[_Tracked], parts: Sequence[StreamAppend], error: ForzeError
    ) -> tuple[list[AppendResult], list[bool]]:
        """Results after a conflict of a unit whose ids are derived: streams an earlier run of
        the operation changed keep its result; the rest are appended now (none: the conflict
        was real, and is raised)."""
        earlier: list[AppendResult | None] = []
        for tracked, part in zip(changed, parts, strict=True):
            first: NewEvent = part.events[0]
            earlier.append(await tracked.repository._earlier(tracked.stream_id, first))
        if all(result is None for result in earlier):
            raise error
        rest = [part for part, result in zip(parts, earlier, strict=True) if result is None]
        appended = iter(await self._repositories.store.append_many(rest) if rest else [])
        results = [next(appended) if result is None else result for result in earlier]
        return results, [result is not None for result in earlier]


class UnitRepository(Generic[A]):
    """An aggregate repository inside a unit of work: saving only tracks the aggregate.

    ``load`` (of the current version), ``edit`` and ``create`` track what they give;
    ``save`` tracks and returns ``None`` (the events are stored when the unit commits).
    ``execute``, which retries one aggregate on its own, and ``append``, which returns what
    was stored, are refused: retry the whole usecase instead (``retry_on_conflict``).
    """

    def __init__(self, unit: EventSourcedUnitOfWork, repository: EventSourcedRepository[A]):
        self._unit = unit
        self._repository = repository

    @property
    def spec(self) -> AggregateSpec[A]:
        """The spec this repository serves."""
        return self._repository.spec

    async def load(self, aggregate_id: str, *, at_version: int | None = None) -> A:
        """The tracked aggregate, or the stored one, now tracked; ``at_version`` gives a
        past version, which is not tracked (it cannot be saved)."""
        if at_version is not None:
            return await self._repository.load(aggregate_id, at_version=at_version)
        tracked = self._unit._tracked_aggregate(self.spec.stream_id(aggregate_id))
        if tracked is not None:
            return tracked  # type: ignore[return-value]  # tracked under this spec's stream
        aggregate = await self._repository.load(aggregate_id)
        self._unit._track(self._repository, aggregate)
        return aggregate

    async def save(self, aggregate: A) -> AppendResult | None:
        """Track ``aggregate``: its pending events are stored when the unit commits."""
        self._unit._track(self._repository, aggregate)
        return None

    @asynccontextmanager
    async def edit(self, aggregate_id: str) -> AsyncIterator[A]:
        """Load and track the aggregate (saved when the unit commits)."""
        yield await self.load(aggregate_id)

    @asynccontextmanager
    async def create(self, aggregate_id: str) -> AsyncIterator[A]:
        """A new empty aggregate, tracked; the commit raises ``ConcurrencyError`` if its
        stream exists by then."""
        stream_id = self.spec.stream_id(aggregate_id)
        if self._unit._tracked_aggregate(stream_id) is not None:
            raise InvalidInputError(f"the unit of work already holds stream {stream_id!r}")
        aggregate = self.spec.new(aggregate_id)
        self._unit._track(self._repository, aggregate)
        yield aggregate

    async def execute(self, aggregate_id: str, action: Callable[[A], R], *, retries: int = 3) -> R:
        """Refused inside a unit of work (see the class docstring)."""
        raise WiringError(
            "execute() retries one aggregate on its own; inside a unit of work, load the"
            " aggregate and retry the whole usecase on ConcurrencyError (retry_on_conflict)"
        )

    async def history(self, aggregate_id: str) -> list[DomainEvent]:
        """Every stored event of the aggregate, decoded, oldest first."""
        return await self._repository.history(aggregate_id)

    async def append(
        self,
        aggregate_id: str,
        events: Sequence[DomainEvent],
        expected_version: ExpectedVersionArg = ExpectedVersion.ANY,
    ) -> AppendResult:
        """Refused inside a unit of work (it returns what was stored, which the unit only
        knows at commit): load or create the aggregate and emit the events on it instead."""
        raise WiringError(
            "append() inside a unit of work cannot return its result before the commit:"
            " load or create the aggregate in the unit and emit the events on it"
        )
