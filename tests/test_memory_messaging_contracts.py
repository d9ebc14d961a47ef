"""The in-memory idempotency store, broker and saga runner pass their suites."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest

from forze.contracts import IdempotencyStore, Message
from forze.domain.errors import InvalidInputError
from forze.testing.contracts import (
    BrokerContract,
    BrokerUnderTest,
    IdempotencyStoreContract,
    ManualClock,
)
from forze_mock import InMemoryBroker
from forze_mock.memory_messaging import InMemoryIdempotencyStore
from forze_projections.testing import ConsumerContract, RelayContract


class TestInMemoryIdempotencyStore(IdempotencyStoreContract):
    """The contract on a manual clock, plus the store's input checks."""

    def make_store(self) -> IdempotencyStore:
        self.clock = ManualClock()
        return InMemoryIdempotencyStore(clock=self.clock)

    async def let_time_pass(self, seconds: float) -> None:
        self.clock.advance(seconds)

    async def test_a_result_that_is_not_json_able_is_rejected(self) -> None:
        store = InMemoryIdempotencyStore()
        await store.reserve("k")
        with pytest.raises(InvalidInputError):
            await store.complete("k", {"when": object()})
        with pytest.raises(InvalidInputError):
            await store.complete("k", {"ratio": float("nan")})
        assert await store.result("k") is None

    async def test_each_result_read_is_a_fresh_copy(self) -> None:
        store = InMemoryIdempotencyStore()
        await store.complete("k", {"items": [1]})
        first = await store.result("k")
        assert isinstance(first, dict)
        first["items"].append(2)
        assert await store.result("k") == {"items": [1]}

    async def test_completing_a_key_never_reserved_claims_it(self) -> None:
        store = InMemoryIdempotencyStore()
        await store.complete("k", {"done": True})
        assert await store.reserve("k") is False
        assert await store.result("k") == {"done": True}

    async def test_a_time_to_live_that_is_not_positive_is_rejected(self) -> None:
        store = InMemoryIdempotencyStore()
        with pytest.raises(InvalidInputError):
            await store.reserve("k", ttl_seconds=0)
        assert await store.reserve("k") is True


class TestInMemoryBroker(BrokerContract):
    """The broker contract on the in-memory broker (queue ``orders``, bound to ``orders.#``)."""

    @asynccontextmanager
    async def open_broker(self) -> AsyncIterator[BrokerUnderTest]:
        broker = InMemoryBroker(max_message_bytes=1024)
        broker.declare("orders", "orders.#")

        async def dead_letters() -> list[tuple[Message, str]]:
            return [(dead.message, dead.reason) for dead in broker.dead_letters("orders")]

        yield BrokerUnderTest(
            broker.publisher(),
            "orders.placed",
            lambda: broker.subscriber("orders"),
            dead_letters,
            max_message_bytes=1024,
        )


class TestInMemoryRelay(RelayContract):
    """The relay contract on the in-memory broker (the same wiring as its broker contract)."""

    open_broker = TestInMemoryBroker.open_broker


class TestInMemoryConsumerContract(ConsumerContract):
    """The consumer contract on the in-memory broker. It carries messages, not a wire
    envelope, so its undecodable message is one whose body is not even UTF-8 text."""

    open_broker = TestInMemoryBroker.open_broker

    async def send_malformed(self, broker: BrokerUnderTest) -> None:
        await broker.publisher.publish(
            [
                Message(
                    id="undecodable",
                    type="Placed",
                    source="forze://tests",
                    subject="order-1",
                    time=datetime.now(UTC),
                    data=b"\xff\xfe",
                    destination=broker.destination,
                    ordering_key="order-1",
                )
            ]
        )
