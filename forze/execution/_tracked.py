"""The repository an ``ExecutionContext`` hands out: it records what it saves, and holds the
operation's first save to the version its caller expects (an HTTP ``If-Match``)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

from forze.contracts import AggregateRepository, AppendResult, ExpectedVersion, ExpectedVersionArg
from forze.domain.aggregate import Aggregate
from forze.domain.errors import ConcurrencyError
from forze.domain.spec import AggregateSpec
from forze.domain.values import DomainEvent
from forze.execution.repository_base import RepositoryBase

if TYPE_CHECKING:
    from forze.execution.context import ExecutionContext

__all__ = ["ContextRepository"]

A = TypeVar("A", bound=Aggregate[Any])


class ContextRepository(RepositoryBase[A]):
    """An ``AggregateRepository`` wrapping the registry's, for one operation (see
    ``ExecutionContext.expected_version`` and ``ExecutionContext.saved``); its appends are
    reported to the context's telemetry, if any."""

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
        if self._ctx.telemetry is None or not aggregate.pending_events:
            result = await self._inner.save(aggregate)
        else:
            stream_id = self.spec.stream_id(aggregate.id)
            with self._appending(stream_id, len(aggregate.pending_events)):
                result = await self._inner.save(aggregate)
        if result is not None:
            self._ctx.saved.append(result)
        return result

    def _retries(self, retries: int) -> int:
        """With an expected version, a conflict is the caller's answer: never tried again."""
        return 0 if self._ctx.expected_version is not None else retries

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
        if self._ctx.telemetry is None:
            result = await self._inner.append(aggregate_id, events, expected_version)
        else:
            with self._appending(self.spec.stream_id(aggregate_id), len(events)):
                result = await self._inner.append(aggregate_id, events, expected_version)
        self._ctx.saved.append(result)
        return result

    def _appending(self, stream_id: str, events: int) -> AbstractContextManager[object]:
        """The telemetry's scope of an append of ``events`` to ``stream_id``."""
        ctx = self._ctx
        assert ctx.telemetry is not None  # called only when the context has one
        return ctx.telemetry.append((stream_id,), events, ctx.correlation_id, ctx.causation_id)
