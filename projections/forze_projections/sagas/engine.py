"""What a saga runner is built from (for adapter authors): one instance's machine, its JSON
snapshot, the steps it asks a runner to carry out, and how a step calls its usecase.

Every runner drives the same :class:`SagaMachine`, so a saga behaves alike in-process and on
Temporal: the machine decides (the definition's handlers), the runner's :class:`SagaEffects`
tell the time and carry out steps (in-process: at once; on Temporal: as activities, with
durable timers and retries). Everything the machine keeps is in its :class:`SagaSnapshot`,
plain JSON, which a Temporal workflow carries across continue-as-new.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, Protocol
from uuid import UUID

from pydantic import BaseModel, Field, ValidationError

from forze.contracts import RecordedEvent
from forze.domain.errors import (
    BrokerUnavailable,
    ConcurrencyError,
    EventStoreUnavailable,
    ForzeError,
    InvalidInputError,
    WiringError,
)
from forze.execution import Runtime, Usecase
from forze.execution._payloads import payload_types
from forze_projections.sagas.definition import (
    COMPENSATION_RETRY,
    Call,
    Retry,
    Saga,
    SagaContext,
    StepRequest,
)

__all__ = [
    "DoneStep",
    "InstanceStatus",
    "SagaEffects",
    "SagaMachine",
    "SagaSnapshot",
    "StepFailed",
    "StepRun",
    "event_from_json",
    "event_to_json",
    "is_final",
    "run_step",
]

InstanceStatus = Literal["running", "completed", "compensated", "failed"]
"""``running``; ``completed`` (it asked to end); ``compensated`` (a step failed for good, or
it asked to fail, and every compensation ran); ``failed`` (a handler raised, or a
compensation failed: a person must look)."""


class StepRun(BaseModel):
    """One usecase call a runner carries out for an instance (JSON: a Temporal activity's
    argument). ``seed`` derives the ids of the events it appends, so trying it again appends
    nothing twice."""

    saga: str
    key: str
    number: int
    name: str
    usecase: str
    payload: Any
    seed: str
    correlation_id: str
    causation_id: str
    attempts: int
    first_delay_seconds: float
    backoff: float
    max_delay_seconds: float
    attempt_timeout_seconds: float
    compensation: bool = False


class DoneStep(BaseModel):
    """A step that succeeded, with what undoes it."""

    number: int
    name: str
    undo: StepRun | None = None


class SagaSnapshot(BaseModel):
    """Everything one instance keeps (JSON)."""

    saga: str
    key: str
    state: dict[str, Any]
    status: InstanceStatus = "running"
    seen: list[str] = Field(default_factory=list)
    """The ids of the events delivered to it: a second delivery changes nothing."""
    done: list[DoneStep] = Field(default_factory=list)
    steps: int = 0
    """Steps asked for so far (numbers them)."""
    timers: dict[str, datetime] = Field(default_factory=dict)
    correlation_id: str = ""
    compensated: list[str] = Field(default_factory=list)
    """The names of the steps undone, in the order undone."""
    error: str | None = None


class StepFailed(Exception):
    """A step failed for good (after its retries, or with an error no retry mends)."""


class SagaEffects(Protocol):
    """What a runner gives the machine: the time, and carrying out steps."""

    def now(self) -> datetime:
        """The current time (the runner's clock)."""
        ...

    async def run(self, step: StepRun) -> None:
        """Carry out ``step`` with its retries; ``StepFailed`` when it failed for good."""
        ...


def is_final(error: BaseException) -> bool:
    """Whether no retry can mend ``error``: a forze error other than a conflict or a passing
    outage (a domain rule, invalid input, a missing aggregate, wiring)."""
    if isinstance(error, ConcurrencyError):
        return False
    if isinstance(error, EventStoreUnavailable | BrokerUnavailable):
        return not error.transient
    return isinstance(error, ForzeError)


class SagaMachine:
    """One instance of a saga: takes events and fired timers, runs the decisions."""

    def __init__(self, saga: Saga[Any], snapshot: SagaSnapshot) -> None:
        if snapshot.saga != saga.name:
            raise WiringError(f"snapshot of saga {snapshot.saga!r} given to {saga.name!r}")
        self.saga = saga
        self.snapshot = snapshot

    @classmethod
    def new(cls, saga: Saga[Any], key: str, first: RecordedEvent | None = None) -> SagaMachine:
        """A new instance ``key`` (its correlation id: the starting event's, if it has one)."""
        correlation = "" if first is None else str(first.metadata.get("correlation_id") or "")
        state = saga.new_state().model_dump(mode="json")
        snapshot = SagaSnapshot(
            saga=saga.name,
            key=key,
            state=state,
            correlation_id=correlation or f"saga:{saga.name}:{key}",
        )
        return cls(saga, snapshot)

    @property
    def ended(self) -> bool:
        """Whether the instance ended (it takes nothing more)."""
        return self.snapshot.status != "running"

    def next_due(self) -> datetime | None:
        """When its next timer fires (``None``: no timer is set)."""
        return min(self.snapshot.timers.values(), default=None)

    async def deliver(self, event: RecordedEvent, effects: SagaEffects) -> bool:
        """Handle ``event`` unless it was delivered before or the instance ended (``False``)."""
        snapshot = self.snapshot
        event_id = str(event.event_id)
        if self.ended or event_id in snapshot.seen:
            return False
        snapshot.seen.append(event_id)
        reaction = self.saga.reactions.get(event.event_type)
        if reaction is None:
            return False
        context = self._context(effects, event)
        try:
            reaction.handler(context, self.saga.decode(event))
        except Exception as error:
            await self._undo(effects, f"{event.event_type} handler raised {error!r}", "failed")
            return True
        await self._apply(context, effects, cause=event_id)
        return True

    async def fire_due(self, effects: SagaEffects) -> int:
        """Run the handlers of the timers due by now, earliest first; how many fired."""
        fired = 0
        while not self.ended:
            now = effects.now()
            due = sorted((at, name) for name, at in self.snapshot.timers.items() if at <= now)
            if not due:
                return fired
            _, timer = due[0]
            del self.snapshot.timers[timer]
            fired += 1
            context = self._context(effects, None)
            try:
                self.saga.timeouts[timer].handler(context)
            except Exception as error:
                await self._undo(effects, f"timer {timer!r} handler raised {error!r}", "failed")
                return fired
            await self._apply(context, effects, cause=f"timer:{timer}")
        return fired

    async def cancel(self, effects: SagaEffects, reason: str) -> None:
        """End a running instance now, undoing its completed steps (compensated)."""
        if not self.ended:
            await self._undo(effects, reason, "compensated")

    def _context(self, effects: SagaEffects, event: RecordedEvent | None) -> SagaContext[Any]:
        state = self.saga.state.model_validate(self.snapshot.state)
        return SagaContext(self.saga, self.snapshot.key, state, effects.now(), event)

    async def _apply(self, context: SagaContext[Any], effects: SagaEffects, cause: str) -> None:
        snapshot = self.snapshot
        snapshot.state = context.state.model_dump(mode="json")
        for timer in context.cancelled:
            snapshot.timers.pop(timer, None)
        snapshot.timers.update(context.scheduled)
        for request in context.steps:
            number = snapshot.steps
            snapshot.steps += 1
            step = self._step(request.name, number, request.action, request.retry, cause)
            try:
                await effects.run(step)
            except StepFailed as failed:
                await self._undo(effects, f"step {request.name!r} failed: {failed}", "compensated")
                return
            undo = self._undo_of(request, number, cause)
            snapshot.done.append(DoneStep(number=number, name=request.name, undo=undo))
        if context.failure is not None:
            await self._undo(effects, context.failure, "compensated")
        elif context.completed:
            snapshot.status = "completed"
            snapshot.timers.clear()

    def _undo_of(self, request: StepRequest, number: int, cause: str) -> StepRun | None:
        if request.compensation is None:
            return None
        compensation, retry = request.compensation, COMPENSATION_RETRY
        return self._step(request.name, number, compensation, retry, cause, undo=True)

    async def _undo(self, effects: SagaEffects, reason: str, status: InstanceStatus) -> None:
        """Run the compensations of the completed steps, newest first, then end."""
        snapshot = self.snapshot
        snapshot.timers.clear()
        problems: list[str] = []
        for done in reversed(snapshot.done):
            if done.undo is None:
                continue
            try:
                await effects.run(done.undo)
            except StepFailed as failed:
                problems.append(f"compensation of {done.name!r} failed: {failed}")
                continue
            snapshot.compensated.append(done.name)
        snapshot.done = []
        snapshot.error = "; ".join([reason, *problems])
        snapshot.status = "failed" if problems else status

    def _step(
        self,
        name: str,
        number: int,
        action: Call,
        retry: Retry,
        cause: str,
        *,
        undo: bool = False,
    ) -> StepRun:
        snapshot = self.snapshot
        seed = f"saga:{snapshot.saga}:{snapshot.key}:{number}:{name}" + (":undo" if undo else "")
        return StepRun(
            saga=snapshot.saga,
            key=snapshot.key,
            number=number,
            name=name,
            usecase=action.usecase.name,
            payload=_payload_json(action.payload),
            seed=seed,
            correlation_id=snapshot.correlation_id,
            causation_id=cause,
            attempts=retry.attempts,
            first_delay_seconds=retry.first_delay.total_seconds(),
            backoff=retry.backoff,
            max_delay_seconds=retry.max_delay.total_seconds(),
            attempt_timeout_seconds=retry.attempt_timeout.total_seconds(),
            compensation=undo,
        )


def _payload_json(payload: Any) -> Any:
    """A step's payload as JSON (a pydantic model dumped; plain JSON values as they are)."""
    if isinstance(payload, BaseModel):
        return payload.model_dump(mode="json")
    return payload


async def run_step(runtime: Runtime, saga: Saga[Any], step: StepRun) -> object:
    """Call ``step``'s usecase once, in a context whose events get ids derived from its seed
    (a second try appends nothing new), correlated with the instance, caused by ``step``'s
    event. ``InvalidInputError`` when the usecase is unknown or the payload does not fit.
    The runtime's telemetry, if any, observes the try as a saga step."""
    usecase = saga.usecases.get(step.usecase)
    if usecase is None:
        raise WiringError(f"saga {saga.name!r} has no usecase {step.usecase!r}")
    payload = _payload_of(usecase, step.payload)
    telemetry = runtime.telemetry
    if telemetry is None:
        return await runtime.execute(
            usecase,
            payload,
            correlation_id=step.correlation_id,
            causation_id=step.causation_id,
            event_ids_from=step.seed,
        )
    with telemetry.saga_step(
        saga.name,
        step.name,
        step.usecase,
        compensation=step.compensation,
        correlation_id=step.correlation_id,
        causation_id=step.causation_id,
    ):
        return await runtime.execute(
            usecase,
            payload,
            correlation_id=step.correlation_id,
            causation_id=step.causation_id,
            event_ids_from=step.seed,
        )


def _payload_of(usecase: Usecase[Any, Any], data: Any) -> object:
    accepted = payload_types(usecase.handler)
    models = [cls for cls in accepted or () if issubclass(cls, BaseModel)]
    if len(models) != 1:
        return data
    try:
        return models[0].model_validate(data)
    except ValidationError as error:
        raise InvalidInputError(f"usecase {usecase.name!r}: {error}") from None


def event_to_json(event: RecordedEvent) -> dict[str, Any]:
    """``event`` as JSON (a signal's argument)."""
    return {
        "event_id": str(event.event_id),
        "event_type": event.event_type,
        "data": dict(event.data),
        "metadata": dict(event.metadata),
        "stream_id": event.stream_id,
        "version": event.version,
        "position": event.position,
        "recorded_at": event.recorded_at.isoformat(),
    }


def event_from_json(data: Mapping[str, Any]) -> RecordedEvent:
    """The event :func:`event_to_json` gave."""
    return RecordedEvent(
        event_id=UUID(str(data["event_id"])),
        event_type=str(data["event_type"]),
        data=dict(data["data"]),
        metadata=dict(data["metadata"]),
        stream_id=str(data["stream_id"]),
        version=int(data["version"]),
        position=int(data["position"]),
        recorded_at=datetime.fromisoformat(str(data["recorded_at"])),
    )
