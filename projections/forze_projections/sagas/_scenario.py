"""Given events and elapsed time, then the steps a saga ran, what it undid and its state.

A saga definition's unit test, with no store, runtime or runner: the steps it asks for are
recorded, not run (``failing`` names the steps that fail for good)::

    outcome = await (
        scenario(TRIP_SAGA, "t1")
        .given(TripRequested(trip_id="t1"))
        .elapsed(timedelta(minutes=16))
        .run()
    )
    assert outcome.steps == ["hotel", "flight"]
    assert outcome.compensated == ["flight", "hotel"]

The same :class:`~forze_projections.sagas.engine.SagaMachine` every runner drives decides,
so what holds here holds on the in-process and Temporal runners.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar
from uuid import uuid4

from pydantic import BaseModel

from forze.contracts import RecordedEvent
from forze.domain.values import DomainEvent
from forze_projections.sagas.definition import Saga
from forze_projections.sagas.engine import InstanceStatus, SagaMachine, StepFailed, StepRun

__all__ = ["SagaOutcome", "SagaScenario", "scenario"]

S = TypeVar("S", bound=BaseModel)

_START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SagaOutcome(Generic[S]):
    """What the instance did: the steps it ran (names, in order; failed ones included), the
    calls of the steps that succeeded (usecase name and JSON payload, compensations
    included), the steps it undid (newest first), its state, status, timers still set and
    error."""

    status: InstanceStatus | None
    state: S | None
    steps: list[str]
    calls: list[tuple[str, Any]]
    compensated: list[str]
    timers: dict[str, datetime]
    error: str | None


@dataclass(frozen=True)
class SagaScenario(Generic[S]):
    """A scenario being built (see the module); each method returns a new one."""

    saga: Saga[S]
    key: str
    inputs: tuple[DomainEvent | timedelta, ...] = ()
    fails: frozenset[str] = field(default_factory=frozenset)

    def given(self, *events: DomainEvent) -> SagaScenario[S]:
        """Then deliver ``events`` to the instance, in order (repeat one to redeliver it:
        the same object is the same event id)."""
        return SagaScenario(self.saga, self.key, self.inputs + events, self.fails)

    def elapsed(self, time: timedelta) -> SagaScenario[S]:
        """Then let ``time`` pass (timers due fire)."""
        return SagaScenario(self.saga, self.key, (*self.inputs, time), self.fails)

    def failing(self, *steps: str) -> SagaScenario[S]:
        """The steps named ``steps`` fail for good (their compensations do not)."""
        return SagaScenario(self.saga, self.key, self.inputs, self.fails | set(steps))

    async def run(self) -> SagaOutcome[S]:
        """Play the scenario."""
        effects = _Recording(self.fails)
        machine: SagaMachine | None = None
        ids: dict[int, RecordedEvent] = {}
        for position, given in enumerate(self.inputs, start=1):
            if isinstance(given, timedelta):
                effects.clock += given
                if machine is not None:
                    await machine.fire_due(effects)
                continue
            event = ids.setdefault(id(given), self._recorded(given, position))
            if machine is None:
                if not self.saga.starts_with(event.event_type):
                    continue
                machine = SagaMachine.new(self.saga, self.key, event)
            await machine.deliver(event, effects)
        if machine is None:
            return SagaOutcome(None, None, effects.steps, effects.calls, [], {}, None)
        snapshot = machine.snapshot
        return SagaOutcome(
            status=snapshot.status,
            state=self.saga.state.model_validate(snapshot.state),
            steps=effects.steps,
            calls=effects.calls,
            compensated=list(snapshot.compensated),
            timers=dict(snapshot.timers),
            error=snapshot.error,
        )

    def _recorded(self, event: DomainEvent, position: int) -> RecordedEvent:
        new = self.saga.codec.encode(event)
        return RecordedEvent(
            event_id=uuid4(),
            event_type=new.event_type,
            data=new.data,
            metadata=new.metadata,
            stream_id=f"scenario-{self.key}",
            version=position,
            position=position,
            recorded_at=_START,
        )


def scenario(saga: Saga[S], key: str = "1") -> SagaScenario[S]:
    """Start a scenario for instance ``key`` of ``saga`` (see the module)."""
    return SagaScenario(saga, key)


class _Recording:
    def __init__(self, fails: frozenset[str]) -> None:
        self.fails = fails
        self.clock = _START
        self.steps: list[str] = []
        self.calls: list[tuple[str, Any]] = []

    def now(self) -> datetime:
        return self.clock

    async def run(self, step: StepRun) -> None:
        if not step.compensation:
            self.steps.append(step.name)
        if step.name in self.fails and not step.compensation:
            raise StepFailed(f"step {step.name!r} fails in this scenario")
        self.calls.append((step.usecase, step.payload))
