"""The contract suite of broker adapters: a ``Publisher`` and a ``Subscriber`` together.

An adapter's test module subclasses ``BrokerContract`` and implements ``open_broker``: an async
context manager giving a :class:`BrokerUnderTest` on fresh, empty destinations (a new queue,
stream or exchange per test), so tests never see each other's messages::

    class TestRedisStreams(BrokerContract):
        @asynccontextmanager
        async def open_broker(self) -> AsyncIterator[BrokerUnderTest]:
            ...
            yield BrokerUnderTest(publisher, destination, subscribe, dead_letters)
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from forze.contracts import Delivery, Message, Publisher, Subscriber
from forze.domain.errors import MessageRefused

__all__ = ["BrokerContract", "BrokerUnderTest", "message"]


@dataclass(frozen=True)
class BrokerUnderTest:
    """What the suite drives: a publisher, where to publish, how to subscribe and where the
    dead letters are.

    ``subscribe()`` gives a new subscriber of what was published to ``destination`` (each call
    a new consumer of the same queue or group). ``dead_letters()`` reads the dead-letter
    destination: each message with the reason it was given up for. ``ordered``: whether the
    broker keeps the order of one ordering key (SQS standard queues do not).
    ``max_message_bytes``: a body larger than this is refused by the broker.
    """

    publisher: Publisher
    destination: str
    subscribe: Callable[[], Subscriber]
    dead_letters: Callable[[], Awaitable[list[tuple[Message, str]]]]
    ordered: bool = True
    max_message_bytes: int = 256 * 1024


def message(n: int, *, key: str = "order-1", destination: str = "", size: int = 0) -> Message:
    """A test message, numbered ``n`` (in its data and extensions) and ordered by ``key``."""
    padding = "x" * size
    return Message(
        id=str(uuid4()),
        type="OrderPlaced",
        source="forze://tests",
        subject=key,
        time=datetime(2026, 12, 4, 12, 0, n % 60, 123000, tzinfo=UTC),
        data=f'{{"n":{n},"pad":"{padding}"}}'.encode(),
        extensions={"streamversion": str(n), "position": str(100 + n), "tenant": "acme"},
        destination=destination,
        ordering_key=key,
    )


async def receive_all(
    subscriber: Subscriber, count: int, *, ack: bool = True, seconds: float = 20.0
) -> list[Delivery]:
    """``count`` deliveries (acked unless ``ack`` is false), waiting up to ``seconds``."""
    found: list[Delivery] = []
    deadline = time.monotonic() + seconds
    while len(found) < count:
        assert time.monotonic() < deadline, f"received {len(found)} of {count} messages"
        for delivery in await subscriber.receive(max_messages=10, wait_seconds=0.5):
            if ack:
                await delivery.ack()
            found.append(delivery)
    return found


def _n(delivery: Delivery) -> int:
    return int(delivery.message.extensions["streamversion"])


class BrokerContract(ABC):
    """Behaviour every broker adapter has (ARCHITECTURE.md 5: at-least-once, ordered per key,
    redelivered until settled, dead letters with their reason)."""

    @abstractmethod
    def open_broker(self) -> AbstractAsyncContextManager[BrokerUnderTest]:
        """A publisher and subscribers on fresh, empty destinations."""

    @pytest.fixture
    async def broker(self) -> AsyncIterator[BrokerUnderTest]:
        """The broker of one test."""
        async with self.open_broker() as broker:
            yield broker

    async def test_a_published_message_arrives_with_every_attribute_and_its_data(
        self, broker: BrokerUnderTest
    ) -> None:
        sent = message(7, destination=broker.destination)
        await broker.publisher.publish([sent])
        subscriber = broker.subscribe()
        try:
            (delivery,) = await receive_all(subscriber, 1)
        finally:
            await subscriber.close()
        got = delivery.message
        assert (got.id, got.type, got.source, got.subject) == (
            sent.id,
            sent.type,
            sent.source,
            sent.subject,
        )
        assert (got.time, got.data, got.datacontenttype) == (
            sent.time,
            sent.data,
            sent.datacontenttype,
        )
        assert dict(got.extensions) == dict(sent.extensions)
        assert delivery.attempt == 1

    async def test_publishing_nothing_sends_nothing(self, broker: BrokerUnderTest) -> None:
        await broker.publisher.publish([])
        subscriber = broker.subscribe()
        try:
            assert list(await subscriber.receive(max_messages=10, wait_seconds=0.3)) == []
        finally:
            await subscriber.close()

    async def test_messages_of_one_key_arrive_in_the_order_published(
        self, broker: BrokerUnderTest
    ) -> None:
        keys = ["order-a", "order-b", "order-c"]
        sent = [message(n, key=keys[n % 3], destination=broker.destination) for n in range(30)]
        await broker.publisher.publish(sent[:10])
        await broker.publisher.publish(sent[10:])
        subscriber = broker.subscribe()
        try:
            got = await receive_all(subscriber, 30)
        finally:
            await subscriber.close()
        assert sorted(_n(d) for d in got) == list(range(30))
        if broker.ordered:
            for key in keys:
                numbers = [_n(d) for d in got if d.message.ordering_key == key]
                assert numbers == sorted(numbers), key

    async def test_an_acked_message_is_not_delivered_again(self, broker: BrokerUnderTest) -> None:
        await broker.publisher.publish([message(1, destination=broker.destination)])
        first = broker.subscribe()
        try:
            await receive_all(first, 1)
        finally:
            await first.close()
        second = broker.subscribe()
        try:
            assert list(await second.receive(max_messages=10, wait_seconds=1.0)) == []
        finally:
            await second.close()

    async def test_a_message_left_unsettled_by_a_closed_subscriber_is_delivered_again(
        self, broker: BrokerUnderTest
    ) -> None:
        await broker.publisher.publish([message(3, destination=broker.destination)])
        crashed = broker.subscribe()
        (unsettled,) = await receive_all(crashed, 1, ack=False)
        await crashed.close()
        survivor = broker.subscribe()
        try:
            (again,) = await receive_all(survivor, 1)
        finally:
            await survivor.close()
        assert again.message.id == unsettled.message.id
        assert again.attempt == 2

    async def test_a_retried_message_comes_back_after_its_delay_with_the_next_attempt(
        self, broker: BrokerUnderTest
    ) -> None:
        await broker.publisher.publish([message(4, destination=broker.destination)])
        subscriber = broker.subscribe()
        try:
            (first,) = await receive_all(subscriber, 1, ack=False)
            started = time.monotonic()
            await first.retry(1.0)
            (second,) = await receive_all(subscriber, 1)
            waited = time.monotonic() - started
        finally:
            await subscriber.close()
        assert (second.message.id, second.attempt) == (first.message.id, 2)
        assert waited >= 0.5

    async def test_a_dead_lettered_message_keeps_its_reason_and_is_not_delivered_again(
        self, broker: BrokerUnderTest
    ) -> None:
        poison, after = (message(n, destination=broker.destination) for n in (5, 6))
        await broker.publisher.publish([poison, after])
        subscriber = broker.subscribe()
        try:
            (first,) = await receive_all(subscriber, 1, ack=False)
            assert first.message.id == poison.id
            await first.dead_letter("KeyError: 'amount'")
            (second,) = await receive_all(subscriber, 1)
            assert second.message.id == after.id
            assert list(await subscriber.receive(max_messages=10, wait_seconds=0.5)) == []
        finally:
            await subscriber.close()
        dead = await _eventually_dead(broker, 1)
        assert [(m.id, reason) for m, reason in dead] == [(poison.id, "KeyError: 'amount'")]

    async def test_a_message_over_the_brokers_size_limit_is_refused_after_the_ones_before_it(
        self, broker: BrokerUnderTest
    ) -> None:
        fits = message(8, destination=broker.destination)
        too_big = message(9, destination=broker.destination, size=broker.max_message_bytes + 1)
        with pytest.raises(MessageRefused) as refused:
            await broker.publisher.publish([fits, too_big])
        assert refused.value.message_id == too_big.id
        subscriber = broker.subscribe()
        try:
            (got,) = await receive_all(subscriber, 1)
        finally:
            await subscriber.close()
        assert got.message.id == fits.id

    async def test_receiving_from_an_empty_destination_waits_at_most_the_time_given(
        self, broker: BrokerUnderTest
    ) -> None:
        subscriber = broker.subscribe()
        try:
            started = time.monotonic()
            assert list(await subscriber.receive(max_messages=5, wait_seconds=0.5)) == []
            assert time.monotonic() - started < 5.0
        finally:
            await subscriber.close()

    async def test_concurrent_publishes_of_different_keys_keep_each_keys_order(
        self, broker: BrokerUnderTest
    ) -> None:
        async def publish_key(key: str) -> None:
            for n in range(10):
                await broker.publisher.publish(
                    [replace(message(n, key=key), destination=broker.destination)]
                )

        keys = [f"account-{k}" for k in range(4)]
        await asyncio.gather(*(publish_key(key) for key in keys))
        subscriber = broker.subscribe()
        try:
            got = await receive_all(subscriber, 40)
        finally:
            await subscriber.close()
        if broker.ordered:
            for key in keys:
                assert [_n(d) for d in got if d.message.ordering_key == key] == list(range(10))


async def _eventually_dead(broker: BrokerUnderTest, count: int) -> Sequence[tuple[Message, str]]:
    deadline = time.monotonic() + 20
    while True:
        dead = await broker.dead_letters()
        if len(dead) >= count or time.monotonic() > deadline:
            return dead
        await asyncio.sleep(0.1)
