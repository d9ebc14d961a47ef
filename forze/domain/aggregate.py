"""The event-sourced aggregate base class."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from forze.domain.errors import InvalidInputError, SerializationError, WiringError
from forze.domain.values import DomainEvent

if TYPE_CHECKING:
    from forze.domain.spec import AggregateSpec

__all__ = ["Aggregate"]

E = TypeVar("E", bound=DomainEvent)


class Aggregate(ABC, Generic[E]):
    """A consistency boundary whose state is the fold of its events.

    Subclasses validate commands in ordinary methods and record facts with :meth:`emit`.
    :meth:`apply` is the one place that changes state, with one explicit branch per event
    type (a ``match`` statement reads best), so a reader sees which code applies which event::

        class Account(Aggregate[AccountEvent]):
            def __init__(self, aggregate_id: str) -> None:
                super().__init__(aggregate_id)
                self.balance = 0

            def deposit(self, amount: int) -> None:
                if amount <= 0:
                    raise DomainError("deposit must be positive")
                self.emit(Deposited(amount=amount))

            def apply(self, event: AccountEvent) -> None:
                match event:
                    case Deposited(amount=amount):
                        self.balance += amount

    ``version`` is the stream version the state reflects as stored; events emitted since the
    last load or save are in :attr:`pending_events` until the repository saves them. An
    aggregate made by ``AggregateSpec.new`` (as the repository and ``forze.testing.given``
    make them) checks every event it emits against its spec (see :meth:`declared_by`).
    """

    def __init__(self, aggregate_id: str) -> None:
        self.id = aggregate_id
        self.version = 0
        self._pending: list[E] = []
        self._declared_by: AggregateSpec[Any] | None = None

    @abstractmethod
    def apply(self, event: E) -> None:
        """Change state for one event. Must not raise for an event that was emitted."""

    def declared_by(self, spec: AggregateSpec[Any]) -> Self:
        """Make :meth:`emit` refuse an event whose class ``spec`` does not declare; returns
        the aggregate. ``AggregateSpec.new`` does this to every aggregate it makes, so that an
        undeclared event fails where it is emitted rather than when it is saved."""
        self._declared_by = spec
        return self

    def emit(self, event: E) -> None:
        """Apply a new event and remember it for saving.

        Raises ``WiringError`` when the aggregate's spec (see :meth:`declared_by`) does not
        declare the event's class; nothing is applied then.
        """
        spec = self._declared_by
        if spec is not None:
            try:
                spec.event_type_of(event)
            except InvalidInputError:
                name = type(event).__name__
                raise WiringError(
                    f"{type(self).__name__} emitted {name}, an event class that AggregateSpec"
                    f" {spec.name!r} does not declare: add EventType('<stored name>', {name})"
                    " to the spec's events"
                ) from None
        self.apply(event)
        self._pending.append(event)

    @property
    def pending_events(self) -> tuple[E, ...]:
        """Events emitted since the aggregate was loaded or last saved."""
        return tuple(self._pending)

    def replay(self, events: Iterable[E], *, version: int) -> None:
        """Apply stored events (no pending events are recorded) and set the stored version."""
        for event in events:
            self.apply(event)
        self.version = version

    def mark_saved(self, version: int) -> None:
        """Forget pending events after they were stored, ending at stream version ``version``."""
        self._pending.clear()
        self.version = version

    def snapshot_state(self) -> Mapping[str, Any] | None:
        """Return a JSON-able snapshot of the state, or ``None`` when snapshots are unsupported.

        Override together with :meth:`restore_snapshot` to let the repository take snapshots.
        """
        return None

    def restore_snapshot(self, state: Mapping[str, Any]) -> None:
        """Restore the state saved by :meth:`snapshot_state`."""
        raise SerializationError(f"{type(self).__name__} does not support snapshots")
