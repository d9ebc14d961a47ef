"""A saga definition: which events start and feed it, its keyed state, and what it decides.

A saga (process manager) is plain, typed Python. Its handlers are *decisions*: given the
instance's state and a decoded event (or a timer that fired), a handler changes the state and
asks, through its :class:`SagaContext`, for steps to run (each a usecase call, with an optional
compensation), timers to set or cancel, and the instance to end. It performs no I/O itself, so
the same definition runs in-process (tests) and as a Temporal workflow, where handlers must be
deterministic; the steps are what runs usecases (Temporal activities).

``Saga.typed`` pairs event classes with handlers as ``Projection.typed`` does: each is declared
by one of the saga's aggregate specs, and mypy checks each handler against its class.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from forze.contracts import RecordedEvent
from forze.domain.errors import InvalidInputError, WiringError
from forze.domain.spec import AggregateSpec
from forze.domain.values import DomainEvent
from forze.execution import Usecase
from forze_eventstore import EventCodec

__all__ = [
    "Call",
    "OnTimeout",
    "Reaction",
    "Retry",
    "Saga",
    "SagaContext",
    "StepRequest",
    "call",
    "on_timeout",
    "reacts",
    "starts",
]

S = TypeVar("S", bound=BaseModel)
E = TypeVar("E", bound=DomainEvent)
C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class Retry:
    """How a step is tried: up to ``attempts`` times, waiting ``first_delay``, then ``backoff``
    times longer each time, at most ``max_delay``. Errors that no retry can mend (a domain
    rule, invalid input, a missing aggregate) end the step at once. The in-process runner
    tries at once, without waiting the delays."""

    attempts: int = 3
    first_delay: timedelta = timedelta(seconds=1)
    backoff: float = 2.0
    max_delay: timedelta = timedelta(seconds=60)
    attempt_timeout: timedelta = timedelta(minutes=1)
    """How long one attempt may run before it counts as failed (Temporal's
    start-to-close timeout)."""

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.backoff < 1 or self.first_delay < timedelta(0):
            raise InvalidInputError("a Retry needs attempts >= 1, backoff >= 1, first_delay >= 0")
        if self.attempt_timeout <= timedelta(0):
            raise InvalidInputError("a Retry needs attempt_timeout > 0")


DEFAULT_RETRY = Retry()
COMPENSATION_RETRY = Retry(attempts=10)
"""Compensations are tried longer: a saga that cannot undo a step needs a person."""


@dataclass(frozen=True, slots=True)
class Call:
    """One usecase call a saga asks for: the usecase and its payload (made with :func:`call`)."""

    usecase: Usecase[Any, Any]
    payload: Any


def call(usecase: Usecase[C, Any], payload: C) -> Call:
    """The call of ``usecase`` with ``payload`` (mypy checks the payload's type)."""
    return Call(usecase, payload)


@dataclass(frozen=True, slots=True)
class StepRequest:
    """A step a handler asked for: a named call, its compensation, and its retry policy."""

    name: str
    action: Call
    compensation: Call | None
    retry: Retry


class SagaContext(Generic[S]):
    """What a handler sees and decides with: the instance's key, its state (change it in
    place), the time (the runner's clock: deterministic on Temporal), the event's envelope
    (``None`` for a timer), and the requests for steps, timers and the end."""

    def __init__(
        self,
        saga: Saga[S],
        key: str,
        state: S,
        now: datetime,
        envelope: RecordedEvent | None,
    ) -> None:
        self.key = key
        self.state = state
        self.now = now
        self.envelope = envelope
        self._saga = saga
        self.steps: list[StepRequest] = []
        self.scheduled: dict[str, datetime] = {}
        self.cancelled: list[str] = []
        self.completed = False
        self.failure: str | None = None

    def run(
        self,
        name: str,
        action: Call,
        *,
        compensate: Call | None = None,
        retry: Retry = DEFAULT_RETRY,
    ) -> None:
        """Run ``action`` (after this handler returns, in the order asked); if a later step
        fails for good, ``compensate`` undoes it (the compensations run newest first)."""
        for requested in (action, compensate):
            if requested is not None and requested.usecase.name not in self._saga.usecases:
                raise WiringError(
                    f"saga {self._saga.name!r} calls usecase {requested.usecase.name!r}, which"
                    " it does not declare in usecases="
                )
        self.steps.append(StepRequest(name, action, compensate, retry))

    def schedule(self, timer: str, after: timedelta) -> None:
        """Fire ``timer`` ``after`` from now (its ``on_timeout`` handler runs then); setting a
        timer that is set already moves it."""
        if timer not in self._saga.timeouts:
            raise WiringError(f"saga {self._saga.name!r} has no on_timeout({timer!r}, ...)")
        self.scheduled[timer] = self.now + after
        if timer in self.cancelled:
            self.cancelled.remove(timer)

    def cancel(self, timer: str) -> None:
        """Cancel ``timer`` if it is set."""
        self.scheduled.pop(timer, None)
        self.cancelled.append(timer)

    def complete(self) -> None:
        """End the instance once the steps asked for here have run."""
        self.completed = True

    def fail(self, reason: str) -> None:
        """End the instance after undoing its completed steps (newest first): compensated."""
        self.failure = reason or "failed"


EventDecision = Callable[[SagaContext[S], E], None]
"""``handler(saga, event)``: decide what to do about a decoded, upcast event."""

TimerDecision = Callable[[SagaContext[S]], None]
"""``handler(saga)``: decide what to do when a timer fired."""


@dataclass(frozen=True, slots=True)
class Reaction(Generic[S, E]):
    """``handler`` decides about every event of ``event_class`` for the instance ``key(event)``;
    ``starts``: such an event starts the instance (others are ignored until one has)."""

    event_class: type[E]
    key: Callable[[E], str]
    handler: EventDecision[S, E]
    starts: bool


def starts(
    event_class: type[E], key: Callable[[E], str], handler: EventDecision[S, E]
) -> Reaction[S, E]:
    """An event that starts the instance ``key(event)`` (and is handled by ``handler``)."""
    return Reaction(event_class, key, handler, starts=True)


def reacts(
    event_class: type[E], key: Callable[[E], str], handler: EventDecision[S, E]
) -> Reaction[S, E]:
    """An event handled by the running instance ``key(event)``; ignored when none runs."""
    return Reaction(event_class, key, handler, starts=False)


@dataclass(frozen=True, slots=True)
class OnTimeout(Generic[S]):
    """``handler`` decides what happens when ``timer`` fires."""

    timer: str
    handler: TimerDecision[S]


def on_timeout(timer: str, handler: TimerDecision[S]) -> OnTimeout[S]:
    """Run ``handler`` when the instance's ``timer`` (set by ``SagaContext.schedule``) fires."""
    return OnTimeout(timer, handler)


@dataclass(frozen=True, eq=False)
class Saga(Generic[S]):
    """A saga definition (build it with :meth:`typed`)."""

    name: str
    state: type[S]
    reactions: dict[str, Reaction[S, Any]]
    """By event type name."""
    timeouts: dict[str, OnTimeout[S]]
    usecases: dict[str, Usecase[Any, Any]]
    codec: EventCodec = field(repr=False)

    @classmethod
    def typed(
        cls,
        name: str,
        *,
        state: type[S],
        specs: Iterable[AggregateSpec[Any]],
        handlers: Iterable[Reaction[S, Any]],
        usecases: Iterable[Usecase[Any, Any]],
        timeouts: Iterable[OnTimeout[S]] = (),
    ) -> Saga[S]:
        """A saga named ``name`` (an identifier-like name: it is part of workflow ids).

        ``state``: a pydantic model whose defaults are a new instance's state (it travels as
        JSON). ``handlers``: :func:`starts` and :func:`reacts` entries, one per event class,
        each declared by one of ``specs``. ``usecases``: every usecase its steps call.
        ``timeouts``: an :func:`on_timeout` per timer. ``WiringError`` when something does
        not fit."""
        if not name or not all(c.isalnum() or c in "-_." for c in name):
            raise InvalidInputError(f"saga name {name!r} must be letters, digits, '-', '_', '.'")
        unique = tuple(dict.fromkeys(specs))
        names_of: dict[type[DomainEvent], str] = {}
        for spec in unique:
            for event_type in spec.events:
                names_of.setdefault(event_type.cls, event_type.name)
        reactions: dict[str, Reaction[S, Any]] = {}
        for reaction in handlers:
            event_type_name = names_of.get(reaction.event_class)
            if event_type_name is None:
                raise WiringError(
                    f"saga {name!r} handles {reaction.event_class.__name__}, which none of its"
                    " specs declares"
                )
            if event_type_name in reactions:
                raise WiringError(f"saga {name!r} handles {reaction.event_class.__name__} twice")
            reactions[event_type_name] = reaction
        if not any(reaction.starts for reaction in reactions.values()):
            raise WiringError(f"saga {name!r} has no starts(...) handler")
        timers: dict[str, OnTimeout[S]] = {}
        for timeout in timeouts:
            if timeout.timer in timers:
                raise WiringError(f"saga {name!r} has two on_timeout({timeout.timer!r}, ...)")
            timers[timeout.timer] = timeout
        by_name: dict[str, Usecase[Any, Any]] = {}
        for usecase in usecases:
            if by_name.setdefault(usecase.name, usecase) is not usecase:
                raise WiringError(f"saga {name!r} has two usecases named {usecase.name!r}")
        return cls(name, state, reactions, timers, by_name, EventCodec.for_specs(*unique))

    @property
    def event_types(self) -> tuple[str, ...]:
        """The event types the saga reads from the feed."""
        return tuple(self.reactions)

    def starts_with(self, event_type: str) -> bool:
        """Whether an event of ``event_type`` starts an instance."""
        reaction = self.reactions.get(event_type)
        return reaction is not None and reaction.starts

    def decode(self, event: RecordedEvent) -> DomainEvent:
        """``event`` decoded and upcast by the specs' codec (``SerializationError`` if not)."""
        return self.codec.decode(event)

    def key_of(self, event: RecordedEvent) -> str | None:
        """The key of the instance ``event`` goes to (``None``: the saga does not read it)."""
        reaction = self.reactions.get(event.event_type)
        if reaction is None:
            return None
        key = reaction.key(self.decode(event))
        if not isinstance(key, str) or not key:
            raise InvalidInputError(
                f"saga {self.name!r}: the key of {event.event_type} {event.event_id} is {key!r},"
                " not a non-empty string"
            )
        return key

    def new_state(self) -> S:
        """A new instance's state: the state model's defaults."""
        return self.state()
