"""Typed projection handlers: one per event class, given the decoded, upcast event.

``on(AccountOpened, opened)`` pairs an event class with its handler; ``Projection.typed``
takes such pairs together with the aggregate specs that declare the classes. mypy checks that
each handler accepts the class it is paired with, which a mapping from classes to handlers
could not express.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from forze.contracts import ReadModelStores, RecordedEvent
from forze.domain.values import DomainEvent

__all__ = ["EventHandler", "Handles", "on"]

E = TypeVar("E", bound=DomainEvent)

EventHandler = Callable[[E, RecordedEvent, ReadModelStores], Awaitable[None]]
"""``handler(event, envelope, read_models)``: apply one decoded event to the read models.

``event`` is an instance of the class the handler is registered for, decoded by the specs'
codec and upcast to the current schema version; ``envelope`` is the ``RecordedEvent`` it was
read from (stream id, version, position, metadata, recorded_at; its ``data`` is the stored,
not upcast, data); ``read_models`` are the stores the projection writes.
"""


@dataclass(frozen=True, slots=True)
class Handles(Generic[E]):
    """``handler`` applies every event of ``event_class`` (made with :func:`on`)."""

    event_class: type[E]
    handler: EventHandler[E]


def on(event_class: type[E], handler: EventHandler[E]) -> Handles[E]:
    """Register ``handler`` for the events of ``event_class`` in ``Projection.typed``.

    The class must be declared (``EventType``) by one of the projection's specs, or building
    the projection raises ``WiringError``.
    """
    return Handles(event_class, handler)
