"""Domain building blocks: aggregates, events, commands, value objects, specs and errors."""

from forze.domain.aggregate import Aggregate
from forze.domain.errors import (
    BrokerUnavailable,
    ConcurrencyError,
    DomainError,
    DuplicateEventIdError,
    EventStoreUnavailable,
    ForzeError,
    InvalidInputError,
    MalformedMessage,
    MessageRefused,
    NotFoundError,
    ReadOnlyOperationError,
    SerializationError,
    StorageUnavailable,
    StreamArchived,
    StreamDeleted,
    StreamNotFound,
    UnknownEventTypeError,
    WiringError,
)
from forze.domain.spec import AggregateSpec, EventType, Upcaster
from forze.domain.values import Command, DomainEvent, ValueObject

__all__ = [
    "Aggregate",
    "AggregateSpec",
    "BrokerUnavailable",
    "Command",
    "ConcurrencyError",
    "DomainError",
    "DomainEvent",
    "DuplicateEventIdError",
    "EventStoreUnavailable",
    "EventType",
    "ForzeError",
    "InvalidInputError",
    "MalformedMessage",
    "MessageRefused",
    "NotFoundError",
    "ReadOnlyOperationError",
    "SerializationError",
    "StorageUnavailable",
    "StreamArchived",
    "StreamDeleted",
    "StreamNotFound",
    "UnknownEventTypeError",
    "Upcaster",
    "ValueObject",
    "WiringError",
]
