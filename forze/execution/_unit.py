"""The unit of work an ``ExecutionContext`` hands out: routed by spec, one store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from forze.contracts import AggregateRepositories, AggregateRepository, AppendResult, UnitOfWork
from forze.domain.aggregate import Aggregate
from forze.domain.errors import WiringError
from forze.domain.spec import AggregateSpec
from forze.execution._recording import RecordingRepository, pending_counts
from forze.execution.keys import AGGREGATES

if TYPE_CHECKING:
    from forze.execution.context import ExecutionContext

A = TypeVar("A", bound=Aggregate[Any])


class RoutedUnitOfWork:
    """A ``UnitOfWork`` whose repositories are looked up per spec, as ``ctx.aggregates`` does.

    Every spec of one unit must be served by the same aggregate repositories (so the same
    event store): a spec routed to another store raises ``WiringError`` when it is first used,
    since no store can append atomically to another's streams. With a telemetry, the
    commit is reported as one append of the events of every aggregate the unit handed out.
    """

    def __init__(self, ctx: ExecutionContext) -> None:
        self._ctx = ctx
        self._repositories: AggregateRepositories | None = None
        self._first: str = ""
        self._unit: UnitOfWork | None = None
        self._results: Sequence[AppendResult] | None = None
        self._seen: dict[str, Aggregate[Any]] | None = None if ctx.telemetry is None else {}

    def aggregates(self, spec: AggregateSpec[A]) -> AggregateRepository[A]:
        """See ``UnitOfWork.aggregates``."""
        repositories = self._ctx.port(AGGREGATES, spec.name)
        if self._results is not None:
            raise WiringError("this unit of work has committed: start a new one")
        if self._unit is None:
            metadata = self._ctx.event_metadata()
            self._unit = repositories.unit_of_work(metadata=metadata, event_ids=self._ctx.event_ids)
            self._repositories, self._first = repositories, spec.name
        elif repositories is not self._repositories:
            raise WiringError(
                f"a unit of work saves to one event store: aggregates {spec.name!r} and"
                f" {self._first!r} are provided by different modules or routes; save them"
                " in separate operations (a saga or a consumer can link them)"
            )
        repository = self._unit.aggregates(spec)
        return repository if self._seen is None else RecordingRepository(repository, self._seen)

    async def commit(self) -> Sequence[AppendResult]:
        """See ``UnitOfWork.commit``. The unit commits once: calling it again (or the end of
        ``ctx.unit_of_work()``'s block after a call) returns the same results."""
        if self._results is None:
            unit, seen = self._unit, self._seen
            if unit is None:
                self._results = ()
            elif seen is None:
                self._results = await unit.commit()
            else:
                self._results = await self._reported(unit, seen)
            self._ctx.saved.extend(self._results)
        return self._results

    async def _reported(
        self, unit: UnitOfWork, seen: dict[str, Aggregate[Any]]
    ) -> Sequence[AppendResult]:
        """Commit ``unit`` within the telemetry's scope of the append it makes (if any)."""
        ctx, counts = self._ctx, pending_counts(seen)
        if ctx.telemetry is None or not counts:
            return await unit.commit()
        with ctx.telemetry.append(
            list(counts), sum(counts.values()), ctx.correlation_id, ctx.causation_id
        ):
            return await unit.commit()
