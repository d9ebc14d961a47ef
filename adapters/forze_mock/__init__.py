"""In-memory adapters for every forze port, and ``MockDepsModule`` wiring them as fallbacks."""

from forze_mock.memory_broker import (
    DeadLetter,
    InMemoryBroker,
    InMemoryPublisher,
    InMemorySubscriber,
    topic_matches,
)
from forze_mock.memory_messaging import InMemoryIdempotencyStore
from forze_mock.memory_sagas import InProcessSagaRunner
from forze_mock.memory_storage import Clock, InMemoryCache, InMemoryCounter, InMemoryObjectStorage
from forze_mock.module import MockDepsModule

__all__ = [
    "Clock",
    "DeadLetter",
    "InMemoryBroker",
    "InMemoryCache",
    "InMemoryCounter",
    "InMemoryIdempotencyStore",
    "InMemoryObjectStorage",
    "InMemoryPublisher",
    "InMemorySubscriber",
    "InProcessSagaRunner",
    "MockDepsModule",
    "topic_matches",
]
