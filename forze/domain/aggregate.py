"""The event-sourced aggregate base class."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar

from forze.domain.errors import SerializationError
from forze.domain.values import DomainEvent

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
    last load or save are in :attr:`pending_events` until the repository saves them.
    """

    def __init__(self, aggregate_id: str) -> None:
        self.id = aggregate_id
        self.version = 0
        self._pending: list[E] = []

    @abstractmethod
    def apply(self, event: E) -> None:
        """Change state for one event. Must not raise for an event that was emitted."""

    def emit(self, event: E) -> None:
        """Apply a new event and remember it for saving."""
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
