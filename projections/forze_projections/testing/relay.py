"""The relay contract: the event log reaches a broker through a ``Relay``, in order, at least
once, and a refused message neither blocks the relay nor goes unseen.

A broker adapter's test module reuses its ``BrokerContract`` wiring: subclass
``RelayContract`` and implement the same ``open_broker`` (an async context manager giving a
``BrokerUnderTest`` on fresh, empty destinations); the relay routes every event to
``broker.destination``. The event store and projection backend come from ``open_store``
(in memory unless overridden)::

    class TestRedisRelay(RelayContract):
        open_broker = TestRedisStreams.open_broker  # the module's BrokerContract class

Set ``deduplicates = True`` for a broker that may drop a message whose id it accepted shortly
before (SQS FIFO queues): the cases then check what the relay sent, and that every id
arrived, rather than every copy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from forze.contracts import EventStore
from forze.testing.contracts.broker import BrokerUnderTest
from forze_eventstore import InMemoryEventStore
from forze_projections.backend import ProjectionBackend
from forze_projections.memory_backend import InMemoryProjectionBackend
from forze_projections.testing.relay_cases import RelayCases
from forze_projections.testing.relay_status_cases import RelayStatusCases
from forze_projections.testing.relay_support import RelayRig

__all__ = ["RelayContract"]


class RelayContract(RelayCases, RelayStatusCases, ABC):
    """Store → relay → broker, on a real broker (see the module)."""

    lanes = 4
    """The relays' concurrent lanes (more than one, so lanes interleave)."""
    deduplicates = False
    """Whether the broker may drop a message whose id it accepted shortly before."""

    @abstractmethod
    def open_broker(self) -> AbstractAsyncContextManager[BrokerUnderTest]:
        """A publisher and subscribers on fresh, empty destinations (as ``BrokerContract``)."""

    def open_store(self) -> AbstractAsyncContextManager[tuple[EventStore, ProjectionBackend]]:
        """A fresh, empty event store and projection backend (in memory by default; a
        short poll interval, so live relays see new events quickly)."""
        return _in_memory()

    @pytest.fixture
    async def rig(self) -> AsyncIterator[RelayRig]:
        """The store, backend and broker of one test."""
        async with self.open_store() as (events, backend), self.open_broker() as broker:
            rig = RelayRig(events, backend, broker, self.lanes, self.deduplicates)
            try:
                yield rig
            finally:
                for arrivals in rig.subscribers:
                    await arrivals.subscriber.close()


@asynccontextmanager
async def _in_memory() -> AsyncIterator[tuple[EventStore, ProjectionBackend]]:
    yield InMemoryEventStore(poll_interval=0.02), InMemoryProjectionBackend()
