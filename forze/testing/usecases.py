"""Given / when / then for usecases, through a running runtime."""

from __future__ import annotations

from typing import Any, TypeVar

from forze.domain.aggregate import Aggregate
from forze.domain.spec import AggregateSpec
from forze.domain.values import DomainEvent
from forze.execution.keys import AGGREGATES, EVENT_STORE
from forze.execution.runtime import Runtime
from forze.execution.usecase import Usecase

__all__ = ["UsecaseScenario"]

A = TypeVar("A", bound=Aggregate[Any])
C = TypeVar("C")
X = TypeVar("X", bound=BaseException)


class UsecaseScenario:
    """Drives a usecase against a runtime (usually wired with ``forze_mock.MockDepsModule``)::

    scenario = UsecaseScenario(runtime)
    await scenario.given(ACCOUNTS, "a1", Opened(owner="ann"))
    await scenario.when(deposit, Deposit(account_id="a1", amount=5))
    await scenario.then(ACCOUNTS, "a1", Deposited(amount=5))
    """

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._head = 0
        self._result: object = None
        self._error: Exception | None = None

    async def given(self, spec: AggregateSpec[A], aggregate_id: str, *events: DomainEvent) -> None:
        """Store ``events`` as (more) history of the aggregate."""
        await self._runtime.port(AGGREGATES, spec.name)(spec).append(aggregate_id, events)

    async def when(self, usecase: Usecase[C, Any], payload: C, **context: Any) -> object:
        """Run the usecase, capturing its result or error; ``context`` sets actor, tenant, ..."""
        self._head = await self._runtime.port(EVENT_STORE).head_position()
        self._result, self._error = None, None
        try:
            self._result = await self._runtime.execute(usecase, payload, **context)
        except Exception as error:
            self._error = error
        return self._result

    async def then(self, spec: AggregateSpec[A], aggregate_id: str, *expected: DomainEvent) -> None:
        """Assert the usecase succeeded and recorded exactly ``expected`` on that aggregate."""
        if self._error is not None:
            raise AssertionError(
                f"expected events, but the usecase raised {type(self._error).__name__}: "
                f"{self._error}"
            ) from self._error
        recorded = await self.new_events(spec, aggregate_id)
        if recorded != list(expected):
            raise AssertionError(f"expected events {list(expected)}\n    but recorded {recorded}")

    async def then_raises(self, error_type: type[X], match: str | None = None) -> X:
        """Assert the usecase raised ``error_type`` and recorded nothing."""
        error = self._error
        if not isinstance(error, error_type):
            got = "no error" if error is None else f"{type(error).__name__}: {error}"
            raise AssertionError(f"expected {error_type.__name__}, got {got}")
        if match is not None and match not in str(error):
            raise AssertionError(f"expected the error to mention {match!r}, got {str(error)!r}")
        head = await self._runtime.port(EVENT_STORE).head_position()
        if head != self._head:
            raise AssertionError(f"the usecase raised but recorded {head - self._head} events")
        return error

    @property
    def result(self) -> object:
        """What the last ``when`` returned."""
        return self._result

    async def new_events(self, spec: AggregateSpec[A], aggregate_id: str) -> list[DomainEvent]:
        """The events the last ``when`` recorded on one aggregate, decoded."""
        stream_id = spec.stream_id(aggregate_id)
        store = self._runtime.port(EVENT_STORE, spec.name)
        fresh = [e for e in await store.read_all(after=self._head) if e.stream_id == stream_id]
        if not fresh:
            return []
        history = await self._runtime.port(AGGREGATES, spec.name)(spec).history(aggregate_id)
        return history[len(history) - len(fresh) :]
