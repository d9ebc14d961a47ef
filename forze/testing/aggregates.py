"""Given / when / then for one aggregate, with no store at all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from forze.domain.aggregate import Aggregate
from forze.domain.spec import AggregateSpec
from forze.domain.values import DomainEvent

__all__ = ["AggregateGiven", "AggregateWhen", "given"]

A = TypeVar("A", bound=Aggregate[Any])
X = TypeVar("X", bound=BaseException)


def given(
    spec: AggregateSpec[A], *events: DomainEvent, aggregate_id: str = "1"
) -> AggregateGiven[A]:
    """Start a scenario: an aggregate of ``spec`` whose history is ``events``.

    ``given(ACCOUNTS, Opened(...)).when(lambda a: a.withdraw(5)).then(Withdrawn(amount=5))``
    """
    for event in events:
        spec.event_type_of(event)
    return AggregateGiven(spec, events, aggregate_id)


class AggregateGiven(Generic[A]):
    """An aggregate history, waiting for a command."""

    def __init__(self, spec: AggregateSpec[A], events: tuple[DomainEvent, ...], aggregate_id: str):
        self._spec = spec
        self._events = events
        self._id = aggregate_id

    @property
    def state(self) -> A:
        """The aggregate rebuilt from the given history: a new one on each access, so that
        what is done to it leaves the scenario as it was."""
        aggregate = self._spec.new(self._id)
        aggregate.replay(self._events, version=len(self._events))
        return aggregate

    def when(self, command: Callable[[A], object]) -> AggregateWhen[A]:
        """Run ``command`` on the rebuilt aggregate, capturing any error it raises (an event
        class the spec does not declare raises ``WiringError``)."""
        aggregate = self.state
        try:
            command(aggregate)
        except Exception as error:
            return AggregateWhen(aggregate, error)
        return AggregateWhen(aggregate, None)


class AggregateWhen(Generic[A]):
    """The outcome of a command: its new events or its error."""

    def __init__(self, aggregate: A, error: Exception | None) -> None:
        self._aggregate = aggregate
        self._error = error

    def then(self, *expected: DomainEvent) -> A:
        """Assert the command succeeded and emitted exactly ``expected``; return the aggregate."""
        if self._error is not None:
            raise AssertionError(
                f"expected events {list(expected)}, but the command raised "
                f"{type(self._error).__name__}: {self._error}"
            ) from self._error
        emitted = list(self._aggregate.pending_events)
        if emitted != list(expected):
            raise AssertionError(f"expected events {list(expected)}\n     but emitted {emitted}")
        return self._aggregate

    def then_raises(self, error_type: type[X], match: str | None = None) -> X:
        """Assert the command raised ``error_type`` (its message containing ``match``)."""
        error = self._error
        if not isinstance(error, error_type):
            got = "no error" if error is None else f"{type(error).__name__}: {error}"
            raise AssertionError(f"expected {error_type.__name__}, got {got}")
        if match is not None and match not in str(error):
            raise AssertionError(f"expected the error to mention {match!r}, got {str(error)!r}")
        if self._aggregate.pending_events:
            raise AssertionError(
                f"the command raised but emitted {list(self._aggregate.pending_events)}"
            )
        return error
