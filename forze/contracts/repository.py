"""The aggregate-repository port: load and save aggregates as event streams."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar

from forze.contracts.envelopes import AppendResult, ExpectedVersion, ExpectedVersionArg
from forze.contracts.event_ids import EventIds
from forze.domain.aggregate import Aggregate
from forze.domain.spec import AggregateSpec
from forze.domain.values import DomainEvent

__all__ = ["AggregateRepositories", "AggregateRepository", "UnitOfWork"]

A = TypeVar("A", bound=Aggregate[Any])
R = TypeVar("R")


class AggregateRepository(Protocol[A]):
    """Loads aggregates of one spec from their streams and saves their new events.

    Guarantees: ``save`` appends the pending events with the loaded version as expected
    version, so a concurrent change raises ``ConcurrencyError`` instead of being overwritten;
    ``load`` uses the newest snapshot of the current schema and the tail after it.
    """

    @property
    def spec(self) -> AggregateSpec[A]:
        """The spec this repository serves."""
        ...

    async def load(self, aggregate_id: str, *, at_version: int | None = None) -> A:
        """The aggregate as of now, or as of ``at_version``; ``StreamNotFound`` if absent."""
        ...

    async def save(self, aggregate: A) -> AppendResult | None:
        """Append the aggregate's pending events; ``None`` when there were none."""
        ...

    def edit(self, aggregate_id: str) -> AbstractAsyncContextManager[A]:
        """Load, yield for changes, and save when the block exits without an error."""
        ...

    def create(self, aggregate_id: str) -> AbstractAsyncContextManager[A]:
        """Yield a new empty aggregate and save it; ``ConcurrencyError`` if it exists."""
        ...

    async def execute(self, aggregate_id: str, action: Callable[[A], R], *, retries: int = 3) -> R:
        """Load, run ``action`` (a plain function of the aggregate), save; on ``ConcurrencyError``
        reload and run it again after a short jittered back-off, up to ``retries`` more times."""
        ...

    async def history(self, aggregate_id: str) -> list[DomainEvent]:
        """Every event of the aggregate, decoded, oldest first."""
        ...

    async def append(
        self,
        aggregate_id: str,
        events: Sequence[DomainEvent],
        expected_version: ExpectedVersionArg = ExpectedVersion.ANY,
    ) -> AppendResult:
        """Append domain events directly (imports, test fixtures)."""
        ...


class UnitOfWork(Protocol):
    """Changes to several aggregates, saved together: all of them or none.

    Aggregates loaded or created through :meth:`aggregates` are tracked (loading one twice
    gives the same object); :meth:`commit` appends every tracked aggregate's pending events
    in one atomic ``EventStore.append_many``, each expecting the version it was loaded at, so
    a concurrent change to any of them raises ``ConcurrencyError`` and stores nothing.
    """

    def aggregates(self, spec: AggregateSpec[A]) -> AggregateRepository[A]:
        """The repository of ``spec`` inside this unit: ``save``, ``edit`` and ``create``
        only track the aggregate; it is stored when the unit commits."""
        ...

    async def commit(self) -> Sequence[AppendResult]:
        """Store the pending events of every tracked aggregate atomically; the results of
        the streams that changed, in the order they were first tracked."""
        ...


class AggregateRepositories(Protocol):
    """Gives the repository of an aggregate spec (``ctx.aggregates(spec)`` uses it)."""

    def __call__(
        self,
        spec: AggregateSpec[A],
        *,
        metadata: Mapping[str, Any] | None = None,
        event_ids: EventIds | None = None,
    ) -> AggregateRepository[A]:
        """The repository for ``spec``; ``metadata`` is stamped on every event it saves, whose
        ids come from ``event_ids`` when given (random otherwise)."""
        ...

    def unit_of_work(
        self, *, metadata: Mapping[str, Any] | None = None, event_ids: EventIds | None = None
    ) -> UnitOfWork:
        """A new unit of work over this registry's event store, with ``__call__``'s
        ``metadata`` and ``event_ids``."""
        ...
