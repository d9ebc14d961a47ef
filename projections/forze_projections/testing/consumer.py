"""The consumer contract: store → ``Relay`` → broker → ``forze.messaging.Consumer`` → store,
on a real broker: each message's effect once and in stream order, redeliveries absorbed by
the derived event ids, poison, undecodable and unknown messages dead-lettered with a reason.

A broker adapter's test module reuses its ``BrokerContract`` wiring: subclass
``ConsumerContract``, give it the same ``open_broker`` and implement ``send_malformed`` (put
something that is no valid envelope on the destination, with the broker's own client)::

    class TestRedisConsumerContract(ConsumerContract):
        open_broker = TestRedisStreams.open_broker  # the module's BrokerContract class

        async def send_malformed(self, broker: BrokerUnderTest) -> None:
            await redis.xadd(broker.destination, {"ce_id": "broken", "data": b"{}"})

Override ``dead_letter_reasons`` when ``broker.dead_letters()`` leaves out dead letters that
carry no valid envelope. Set ``retries_hold_their_key = False`` for a broker whose retried
message goes to the back of its queue, so that its key's later messages are handled while it
waits. The event store and projection backend come from ``open_store`` (in memory unless
overridden); the consumers run with ``settings`` (three attempts, tiny back-offs).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from forze import build_runtime
from forze.contracts import EventStore
from forze.testing.contracts.broker import BrokerUnderTest
from forze_eventstore import InMemoryEventStore, event_store_module
from forze_projections.backend import ProjectionBackend
from forze_projections.memory_backend import InMemoryProjectionBackend
from forze_projections.testing.consumer_cases import ConsumerCases
from forze_projections.testing.consumer_support import ConsumerRig

__all__ = ["ConsumerContract"]


class ConsumerContract(ConsumerCases):
    """Store → relay → broker → consumer → store, on a real broker (see the module)."""

    @abstractmethod
    def open_broker(self) -> AbstractAsyncContextManager[BrokerUnderTest]:
        """A publisher and subscribers on fresh, empty destinations (as ``BrokerContract``)."""

    def open_store(self) -> AbstractAsyncContextManager[tuple[EventStore, ProjectionBackend]]:
        """A fresh, empty event store and projection backend (in memory by default)."""
        return _in_memory()

    @pytest.fixture
    async def rig(self) -> AsyncIterator[ConsumerRig]:
        """The store, backend, broker and runtime of one test."""
        async with (
            self.open_store() as (events, backend),
            self.open_broker() as broker,
            build_runtime(event_store_module(events)) as runtime,
        ):
            yield ConsumerRig(events, backend, broker, runtime, self.settings)


@asynccontextmanager
async def _in_memory() -> AsyncIterator[tuple[EventStore, ProjectionBackend]]:
    yield InMemoryEventStore(poll_interval=0.02), InMemoryProjectionBackend()
