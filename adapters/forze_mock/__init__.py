"""In-memory adapters for every forze port, and ``MockDepsModule`` wiring them as fallbacks."""

from forze_mock.memory_messaging import (
    InMemoryIdempotencyStore,
    InProcessSagaRunner,
    RecordingPublisher,
    SagaHandler,
)
from forze_mock.memory_storage import Clock, InMemoryCache, InMemoryCounter, InMemoryObjectStorage
from forze_mock.module import MockDepsModule

__all__ = [
    "Clock",
    "InMemoryCache",
    "InMemoryCounter",
    "InMemoryIdempotencyStore",
    "InMemoryObjectStorage",
    "InProcessSagaRunner",
    "MockDepsModule",
    "RecordingPublisher",
    "SagaHandler",
]
