"""Specs: explicit, typed descriptions of aggregates and their event types."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from forze.domain.aggregate import Aggregate
from forze.domain.errors import InvalidInputError
from forze.domain.values import DomainEvent

__all__ = ["AggregateSpec", "EventType", "Upcaster"]

A = TypeVar("A", bound=Aggregate[Any])
E = TypeVar("E", bound=DomainEvent)


@dataclass(frozen=True, slots=True)
class EventType(Generic[E]):
    """Maps one event class to its stable stored name and current schema version."""

    name: str
    cls: type[E]
    schema_version: int = 1

    def __post_init__(self) -> None:
        if not self.name:
            raise InvalidInputError("an event type name must not be empty")
        if self.schema_version < 1:
            raise InvalidInputError(f"event type {self.name!r}: schema_version must be >= 1")


@dataclass(frozen=True, slots=True)
class Upcaster:
    """Turns stored data of ``event_type`` at ``from_version`` into ``from_version + 1`` data."""

    event_type: str
    from_version: int
    upcast: Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class AggregateSpec(Generic[A]):
    """Names an aggregate, how to make an empty one, and every event type it records.

    ``name`` is the stream category: the aggregate ``42`` of spec ``account`` lives in the stream
    ``account-42``. ``snapshot_every`` asks the repository to save a snapshot every N events;
    bump ``snapshot_version`` whenever the snapshot's shape changes so old ones are ignored.
    """

    name: str
    factory: Callable[[str], A]
    events: tuple[EventType[Any], ...]
    upcasters: tuple[Upcaster, ...] = ()
    snapshot_every: int | None = None
    snapshot_version: int = 1
    _by_class: Mapping[type[DomainEvent], EventType[Any]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not self.name or "-" in self.name:
            raise InvalidInputError(
                f"aggregate spec name {self.name!r} must be non-empty and contain no '-'"
            )
        if self.snapshot_every is not None and self.snapshot_every < 1:
            raise InvalidInputError(f"spec {self.name!r}: snapshot_every must be >= 1")
        by_class: dict[type[DomainEvent], EventType[Any]] = {}
        names: set[str] = set()
        for event_type in self.events:
            if event_type.name in names or event_type.cls in by_class:
                raise InvalidInputError(
                    f"spec {self.name!r}: event type {event_type.name!r} is declared twice"
                )
            names.add(event_type.name)
            by_class[event_type.cls] = event_type
        object.__setattr__(self, "_by_class", by_class)

    def new(self, aggregate_id: str) -> A:
        """A new, empty aggregate ``aggregate_id`` (made by ``factory``) whose ``emit``
        refuses an event class this spec does not declare (see ``Aggregate.declared_by``)."""
        aggregate: A = self.factory(aggregate_id).declared_by(self)
        return aggregate

    def stream_id(self, aggregate_id: str) -> str:
        """The stream holding the aggregate ``aggregate_id``."""
        if not aggregate_id:
            raise InvalidInputError(f"spec {self.name!r}: aggregate id must not be empty")
        return f"{self.name}-{aggregate_id}"

    def event_type_of(self, event: DomainEvent) -> EventType[Any]:
        """The declared event type of ``event``; raises ``InvalidInputError`` if undeclared."""
        try:
            return self._by_class[type(event)]
        except KeyError:
            raise InvalidInputError(
                f"spec {self.name!r} does not declare event class {type(event).__name__}"
            ) from None
