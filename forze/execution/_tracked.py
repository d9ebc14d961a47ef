"""The repository an ``ExecutionContext`` hands out: it records what it saves, and holds the
operation's first save to the version its caller expects (an HTTP ``If-Match``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from forze.contracts import AggregateRepository, AppendResult, ExpectedVersion, ExpectedVersionArg
from forze.domain.aggregate import Aggregate
from forze.domain.errors import ConcurrencyError, StreamNotFound
from forze.domain.spec import AggregateSpec
from forze.domain.values import DomainEvent
from forze.execution.backoff import Backoff

if TYPE_CHECKING:
    from forze.execution.context import ExecutionContext

__all__ = ["ContextRepository"]

A = TypeVar("A", bound=Aggregate[Any])
R = TypeVar("R")

_CONFLICTS = Backoff(0.002, 0.05, jitter=1.0)


class ContextRepository(Generic[A]):
    """An ``AggregateRepository`` wrapping the registry's, for one operation (see
    ``ExecutionContext.expected_version`` and ``ExecutionContext.saved``)."""

    def __init__(self, inner: AggregateRepository[A], ctx: ExecutionContext) -> None:
        self._inner = inner
        self._ctx = ctx

    @property
    def spec(self) -> AggregateSpec[A]:
        """See ``AggregateRepository.spec``."""
        return self._inner.spec

    async def load(self, aggregate_id: str, *, at_version: int | None = None) -> A:
        """See ``AggregateRepository.load``."""
        return await self._inner.load(aggregate_id, at_version=at_version)

    async def save(self, aggregate: A) -> AppendResult | None:
        """See ``AggregateRepository.save``; the operation's first save raises
        ``ConcurrencyError`` when the aggregate is not at the context's expected version."""
        expected = self._ctx.expected_version
        if expected is not None and not self._ctx.saved and aggregate.version != expected:
            raise ConcurrencyError(self.spec.stream_id(aggregate.id), expected, aggregate.version)
        result = await self._inner.save(aggregate)
        if result is not None:
            self._ctx.saved.append(result)
        return result

    @asynccontextmanager
    async def edit(self, aggregate_id: str) -> AsyncIterator[A]:
        """See ``AggregateRepository.edit``."""
        aggregate = await self.load(aggregate_id)
        yield aggregate
        await self.save(aggregate)

    @asynccontextmanager
    async def create(self, aggregate_id: str) -> AsyncIterator[A]:
        """See ``AggregateRepository.create``."""
        aggregate = self.spec.new(aggregate_id)
        self.spec.stream_id(aggregate_id)
        yield aggregate
        await self.save(aggregate)

    async def execute(self, aggregate_id: str, action: Callable[[A], R], *, retries: int = 3) -> R:
        """See ``AggregateRepository.execute``; with an expected version, a conflict is the
        caller's answer and is not tried again."""
        if self._ctx.expected_version is not None:
            retries = 0
        for attempt in range(retries + 1):
            try:
                aggregate = await self.load(aggregate_id)
            except StreamNotFound:
                aggregate = self.spec.new(aggregate_id)
            result = action(aggregate)
            try:
                await self.save(aggregate)
            except ConcurrencyError:
                if attempt == retries:
                    raise
                await asyncio.sleep(_CONFLICTS.delay(attempt + 1))
            else:
                return result
        raise AssertionError("unreachable")

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
        result = await self._inner.append(aggregate_id, events, expected_version)
        self._ctx.saved.append(result)
        return result
