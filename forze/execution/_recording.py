"""A unit of work's repository that notes the aggregates it hands out, for the telemetry."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Generic, TypeVar

from forze.contracts import AggregateRepository, AppendResult, ExpectedVersion, ExpectedVersionArg
from forze.domain.aggregate import Aggregate
from forze.domain.spec import AggregateSpec
from forze.domain.values import DomainEvent

__all__ = ["RecordingRepository", "pending_counts"]

A = TypeVar("A", bound=Aggregate[Any])
R = TypeVar("R")


class RecordingRepository(Generic[A]):
    """An ``AggregateRepository`` of a unit of work that keeps, by stream id in ``seen``,
    every aggregate it gives (``load``, ``edit``, ``create``) or is given (``save``): what
    the unit will commit. Everything else is the unit's repository's."""

    def __init__(self, inner: AggregateRepository[A], seen: dict[str, Aggregate[Any]]) -> None:
        self._inner = inner
        self._seen = seen

    @property
    def spec(self) -> AggregateSpec[A]:
        """See ``AggregateRepository.spec``."""
        return self._inner.spec

    def _note(self, aggregate: A) -> A:
        self._seen[self._inner.spec.stream_id(aggregate.id)] = aggregate
        return aggregate

    async def load(self, aggregate_id: str, *, at_version: int | None = None) -> A:
        """See ``AggregateRepository.load`` (a past version is not tracked by the unit)."""
        aggregate = await self._inner.load(aggregate_id, at_version=at_version)
        return aggregate if at_version is not None else self._note(aggregate)

    async def save(self, aggregate: A) -> AppendResult | None:
        """See ``AggregateRepository.save``."""
        result = await self._inner.save(aggregate)
        self._note(aggregate)
        return result

    @asynccontextmanager
    async def edit(self, aggregate_id: str) -> AsyncIterator[A]:
        """See ``AggregateRepository.edit``."""
        async with self._inner.edit(aggregate_id) as aggregate:
            yield self._note(aggregate)

    @asynccontextmanager
    async def create(self, aggregate_id: str) -> AsyncIterator[A]:
        """See ``AggregateRepository.create``."""
        async with self._inner.create(aggregate_id) as aggregate:
            yield self._note(aggregate)

    async def execute(self, aggregate_id: str, action: Callable[[A], R], *, retries: int = 3) -> R:
        """See ``AggregateRepository.execute``."""
        return await self._inner.execute(aggregate_id, action, retries=retries)

    async def history(self, aggregate_id: str) -> list[DomainEvent]:
        """See ``AggregateRepository.history``."""
        return await self._inner.history(aggregate_id)

    async def append(
        self,
        aggregate_id: str,
        events: Sequence[DomainEvent],
        expected_version: ExpectedVersionArg = ExpectedVersion.ANY,
    ) -> AppendResult:
        """See ``AggregateRepository.append``."""
        return await self._inner.append(aggregate_id, events, expected_version)


def pending_counts(seen: dict[str, Aggregate[Any]]) -> dict[str, int]:
    """How many pending events each noted aggregate holds, by stream id (those with any)."""
    return {stream: len(a.pending_events) for stream, a in seen.items() if a.pending_events}
