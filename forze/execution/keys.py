"""Typed keys naming the ports a runtime provides."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from forze.contracts import (
    AggregateRepositories,
    Cache,
    CheckpointStore,
    Counter,
    EventStore,
    IdempotencyStore,
    ObjectStorage,
    Publisher,
    ReadModelStores,
    SagaRunner,
    SnapshotStore,
    Telemetry,
)

__all__ = [
    "AGGREGATES",
    "CACHE",
    "CHECKPOINTS",
    "COMMAND_PORTS",
    "COUNTER",
    "EVENT_STORE",
    "IDEMPOTENCY",
    "OBJECTS",
    "PUBLISHER",
    "READ_MODELS",
    "SAGAS",
    "SNAPSHOTS",
    "TELEMETRY",
    "PortKey",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PortKey(Generic[T]):
    """Names a port; the type parameter is what resolving the key returns."""

    name: str

    def __str__(self) -> str:
        return self.name


EVENT_STORE: PortKey[EventStore] = PortKey("event_store")
AGGREGATES: PortKey[AggregateRepositories] = PortKey("aggregates")
SNAPSHOTS: PortKey[SnapshotStore] = PortKey("snapshots")
CHECKPOINTS: PortKey[CheckpointStore] = PortKey("checkpoints")
READ_MODELS: PortKey[ReadModelStores] = PortKey("read_models")
PUBLISHER: PortKey[Publisher] = PortKey("publisher")
IDEMPOTENCY: PortKey[IdempotencyStore] = PortKey("idempotency")
CACHE: PortKey[Cache] = PortKey("cache")
COUNTER: PortKey[Counter] = PortKey("counter")
OBJECTS: PortKey[ObjectStorage] = PortKey("objects")
SAGAS: PortKey[SagaRunner] = PortKey("sagas")
TELEMETRY: PortKey[Telemetry] = PortKey("telemetry")
"""The optional observer of the runtime (``Runtime.telemetry``): ``forze_otel.otel_module``."""

COMMAND_PORTS: frozenset[PortKey[Any]] = frozenset({AGGREGATES, PUBLISHER, SAGAS})
"""Ports only a command operation may obtain (the event store is read-only in queries)."""
