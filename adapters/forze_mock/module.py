"""``MockDepsModule``: in-memory adapters for every port, as fallbacks."""

from __future__ import annotations

from forze.execution import (
    AGGREGATES,
    CACHE,
    CHECKPOINTS,
    COUNTER,
    EVENT_STORE,
    IDEMPOTENCY,
    OBJECTS,
    PUBLISHER,
    READ_MODELS,
    SNAPSHOTS,
    DepsModule,
)
from forze_eventstore import EventSourcedRepositories, InMemoryEventStore, InMemorySnapshotStore
from forze_mock.memory_broker import InMemoryBroker
from forze_mock.memory_messaging import InMemoryIdempotencyStore
from forze_mock.memory_storage import InMemoryCache, InMemoryCounter, InMemoryObjectStorage
from forze_projections import PROJECTION_BACKEND, InMemoryProjectionBackend

__all__ = ["MockDepsModule"]


class MockDepsModule(DepsModule):
    """Provides a real in-memory adapter for every kernel port, each only as a fallback.

    A module of real adapters registered beside it wins for the ports it provides, so a test
    can run Postgres for events and memory for everything else. The adapters are attributes
    (``mock.events``; ``mock.broker``, whose queue ``published`` receives every message;
    ...) for tests to inspect.
    """

    def __init__(self, name: str = "mock") -> None:
        super().__init__(name, fallback=True)
        self.events = InMemoryEventStore(poll_interval=0.05)
        self.snapshots = InMemorySnapshotStore()
        self.projections = InMemoryProjectionBackend()
        self.checkpoints = self.projections.checkpoints
        self.read_models = self.projections.serving()
        self.broker = InMemoryBroker()
        self.broker.declare("published", "#")
        self.publisher = self.broker.publisher()
        self.idempotency = InMemoryIdempotencyStore()
        self.cache = InMemoryCache()
        self.counter = InMemoryCounter()
        self.objects = InMemoryObjectStorage()
        self.provide(EVENT_STORE, self.events)
        self.provide(SNAPSHOTS, self.snapshots)
        self.provide_factory(
            AGGREGATES,
            lambda resolve: EventSourcedRepositories(
                resolve(EVENT_STORE), snapshots=resolve(SNAPSHOTS)
            ),
        )
        self.provide(CHECKPOINTS, self.checkpoints)
        self.provide(READ_MODELS, self.read_models)
        self.provide(PROJECTION_BACKEND, self.projections)
        self.provide(PUBLISHER, self.publisher)
        self.provide(IDEMPOTENCY, self.idempotency)
        self.provide(CACHE, self.cache)
        self.provide(COUNTER, self.counter)
        self.provide(OBJECTS, self.objects)
