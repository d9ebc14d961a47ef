"""RabbitMQ passes the broker contract on a real server, survives a killed consumer process and
connections closed by the server, and reports an unreachable server as ``BrokerUnavailable``."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
from uuid import uuid4

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage

from forze import Backoff, Consumer, ConsumerSettings, ExecutionContext, build_runtime
from forze.contracts import Message
from forze.domain.errors import BrokerUnavailable, ConcurrencyError, MessageRefused
from forze.testing.contracts import BrokerContract, BrokerUnderTest
from forze.testing.contracts.broker import message, receive_all
from forze_eventstore import InMemoryEventStore, event_store_module
from forze_projections.testing import ConsumerContract, RelayContract
from forze_rabbitmq import (
    HEADER_PREFIX,
    RabbitPublisher,
    RabbitSettings,
    RabbitSubscriber,
    RabbitSubscription,
    dead_letter_queue_of,
    declare_subscription,
    delay_queue_of,
    peek_dead_letters,
)

URL = os.environ.get("FORZE_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
LIMIT = 64 * 1024
"""The publishers' ``max_message_bytes`` in these tests."""

ROOT = Path(__file__).resolve().parent.parent


@asynccontextmanager
async def subscription() -> AsyncIterator[
    tuple[RabbitSettings, RabbitSubscription, Callable[[], RabbitSubscriber]]
]:
    """A fresh exchange and work queue (bound to ``orders.#``) with its delay and dead-letter
    queues, and a subscriber factory; everything is closed and deleted afterwards."""
    name = f"forze-test-{uuid4().hex[:12]}"
    settings = RabbitSettings(url=URL, exchange=name, timeout_seconds=10.0)
    sub = RabbitSubscription(queue=f"{name}.orders", pattern="orders.#", max_in_flight=16)
    made: list[RabbitSubscriber] = []

    def subscribe() -> RabbitSubscriber:
        made.append(RabbitSubscriber(settings, sub))
        return made[-1]

    admin = await aio_pika.connect(URL, timeout=10)
    try:
        channel = await admin.channel()
        await declare_subscription(channel, name, sub)
        yield settings, sub, subscribe
    finally:
        for subscriber in made:
            await subscriber.close()
        channel = await admin.channel()
        for queue in (sub.queue, delay_queue_of(sub.queue), dead_letter_queue_of(sub.queue)):
            await channel.queue_delete(queue)
        await channel.exchange_delete(name)
        await admin.close()


async def queue_ids(settings: RabbitSettings, queue: str) -> list[str]:
    """The message ids in ``queue``, consumed (a quorum queue with a single active consumer
    refuses ``basic.get``), once nothing more arrived for a second."""
    connection = await aio_pika.connect(settings.url, timeout=10)
    ids: list[str] = []
    try:
        channel = await connection.channel()
        source = await channel.get_queue(queue)

        async def collect(incoming: AbstractIncomingMessage) -> None:
            ids.append(str(incoming.message_id))

        await source.consume(collect, no_ack=True)
        seen = -1
        while seen != len(ids):
            seen = len(ids)
            await asyncio.sleep(1.0)
        return ids
    finally:
        await connection.close()


async def delete_queues(*names: str) -> None:
    """Delete the queues ``names`` (if they exist)."""
    connection = await aio_pika.connect(URL, timeout=10)
    try:
        channel = await connection.channel()
        for name in names:
            await channel.queue_delete(name)
    finally:
        await connection.close()


@asynccontextmanager
async def rabbit_broker() -> AsyncIterator[
    tuple[BrokerUnderTest, RabbitSettings, RabbitSubscription]
]:
    """A fresh ``subscription()`` as a ``BrokerUnderTest`` (routing key ``orders.placed``),
    with its settings and subscription."""
    async with subscription() as (settings, sub, subscribe):
        publisher = RabbitPublisher(settings, max_message_bytes=LIMIT)

        async def dead_letters() -> list[tuple[Message, str]]:
            found = await peek_dead_letters(settings, dead_letter_queue_of(sub.queue))
            return [(d.message, d.reason) for d in found if d.message is not None]

        try:
            yield (
                BrokerUnderTest(
                    publisher,
                    "orders.placed",
                    subscribe,
                    dead_letters,
                    ordered=True,
                    max_message_bytes=LIMIT,
                ),
                settings,
                sub,
            )
        finally:
            await publisher.close()


class TestRabbitMQ(BrokerContract):
    """The contract on a quorum queue with a single active consumer (``ordered=True``)."""

    @asynccontextmanager
    async def open_broker(self) -> AsyncIterator[BrokerUnderTest]:
        async with rabbit_broker() as (broker, _, _sub):
            yield broker


class TestRabbitMQRelay(RelayContract):
    """The relay contract on RabbitMQ (the same wiring as ``TestRabbitMQ``)."""

    open_broker = TestRabbitMQ.open_broker


class TestRabbitMQConsumerContract(ConsumerContract):
    """The consumer contract on RabbitMQ (the wiring of ``TestRabbitMQ``, whose settings and
    subscription it keeps to send undecodable messages and read every dead letter)."""

    rabbit: tuple[RabbitSettings, RabbitSubscription]

    @asynccontextmanager
    async def open_broker(self) -> AsyncIterator[BrokerUnderTest]:
        async with rabbit_broker() as (broker, settings, sub):
            self.rabbit = settings, sub
            yield broker

    async def send_malformed(self, broker: BrokerUnderTest) -> None:
        settings, _ = self.rabbit
        connection = await aio_pika.connect(settings.url, timeout=10)
        try:
            channel = await connection.channel()
            exchange = await channel.get_exchange(settings.exchange)
            headers: dict[str, Any] = {f"{HEADER_PREFIX}id": "no-specversion"}
            await exchange.publish(aio_pika.Message(b"{}", headers=headers), broker.destination)
        finally:
            await connection.close()

    async def dead_letter_reasons(self, broker: BrokerUnderTest) -> list[str]:
        settings, sub = self.rabbit
        return [
            d.reason for d in await peek_dead_letters(settings, dead_letter_queue_of(sub.queue))
        ]


_CONSUMER = """
import asyncio, sys
from forze_rabbitmq import RabbitSettings, RabbitSubscriber, RabbitSubscription

async def main() -> None:
    settings = RabbitSettings(url=sys.argv[1], exchange=sys.argv[2])
    subscriber = RabbitSubscriber(settings, RabbitSubscription(sys.argv[3], "orders.#"))
    while True:
        for delivery in await subscriber.receive(max_messages=1, wait_seconds=1.0):
            print(delivery.message.id, delivery.attempt, flush=True)
            await asyncio.sleep(3600)  # handling it, when the process is killed

asyncio.run(main())
"""


async def test_a_message_whose_consumer_process_was_killed_goes_to_another_with_attempt_2() -> None:
    async with subscription() as (settings, sub, subscribe):
        sent = message(1, destination="orders.placed")
        publisher = RabbitPublisher(settings)
        try:
            await publisher.publish([sent])
        finally:
            await publisher.close()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _CONSUMER,
            settings.url,
            settings.exchange,
            sub.queue,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        try:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            assert line.decode().split() == [sent.id, "1"]
            survivor = subscribe()
            assert list(await survivor.receive(max_messages=10, wait_seconds=0.5)) == []
            os.kill(process.pid, signal.SIGKILL)
            (again,) = await receive_all(survivor, 1)
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()
        assert (again.message.id, again.attempt) == (sent.id, 2)


async def until(condition: Callable[[], bool], failure: str, seconds: float = 20.0) -> None:
    """Wait until ``condition()`` holds, failing with ``failure`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, failure
        await asyncio.sleep(0.05)


def _close_connections_named(name: str) -> int:
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "--no-table-headers", "pid", "client_properties"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    pids = [
        line.split()[0] for line in listed.splitlines() if f'{{"connection_name","{name}"}}' in line
    ]
    for pid in pids:
        subprocess.run(
            ["rabbitmqctl", "-q", "close_connection", pid, "test"],
            capture_output=True,
            timeout=30,
            check=True,
        )
    return len(pids)


async def test_every_confirmed_message_survives_connections_closed_by_the_server() -> None:
    async with subscription() as (settings, sub, _):
        name = f"publisher-{uuid4().hex[:8]}"
        publisher = RabbitPublisher(replace(settings, url=f"{URL}?name={name}"))
        confirmed: list[str] = []
        failures = 0
        stop = asyncio.Event()

        async def publish_in_a_loop() -> None:
            nonlocal failures
            n = 0
            while not stop.is_set():
                batch = [message(n + k, destination="orders.placed") for k in range(20)]
                n += 20
                try:
                    await publisher.publish(batch)
                except BrokerUnavailable:
                    failures += 1
                    await asyncio.sleep(0.2)
                    continue
                confirmed.extend(m.id for m in batch)

        def more_than(mark: int) -> Callable[[], bool]:
            return lambda: len(confirmed) > mark

        loop = asyncio.create_task(publish_in_a_loop())
        try:
            closed = 0
            for _ in range(3):
                await until(lambda: len(confirmed) > 0, "nothing was confirmed")
                closed += await asyncio.to_thread(_close_connections_named, name)
                await until(more_than(len(confirmed) + 100), "publishing never recovered")
        finally:
            stop.set()
            await loop
            await publisher.close()
        assert closed >= 3
        stored = set(await queue_ids(settings, sub.queue))
        assert set(confirmed) <= stored
        print(f"closed {closed} connections, {failures} failed calls, {len(confirmed)} confirmed")


async def test_an_unreachable_server_is_broker_unavailable_within_seconds() -> None:
    settings = RabbitSettings(url="amqp://guest:guest@no-such-host.invalid/", timeout_seconds=5)
    publisher = RabbitPublisher(settings)
    subscriber = RabbitSubscriber(settings, RabbitSubscription("nowhere"))
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable) as unavailable:
        await publisher.publish([message(1, destination="orders.placed")])
    with pytest.raises(BrokerUnavailable):
        await subscriber.receive(wait_seconds=0.1)
    assert time.monotonic() - started < 12
    assert unavailable.value.transient
    await publisher.close()
    await subscriber.close()


async def test_a_refused_port_is_broker_unavailable_at_once() -> None:
    settings = RabbitSettings(url="amqp://guest:guest@127.0.0.1:1/", timeout_seconds=5)
    publisher = RabbitPublisher(settings)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        await publisher.publish([message(1, destination="orders.placed")])
    assert time.monotonic() - started < 5


async def test_an_unroutable_message_is_dropped_unless_mandatory_then_refused() -> None:
    async with subscription() as (settings, sub, _):
        lenient = RabbitPublisher(settings)
        strict = RabbitPublisher(settings, mandatory=True)
        routed = message(1, destination="orders.placed")
        nowhere = message(2, destination="invoices.sent")
        try:
            await lenient.publish([nowhere])
            with pytest.raises(MessageRefused) as refused:
                await strict.publish([routed, nowhere])
        finally:
            await lenient.close()
            await strict.close()
        assert refused.value.message_id == nowhere.id
        assert "invoices.sent" in refused.value.reason
        assert await queue_ids(settings, sub.queue) == [routed.id]


async def test_an_oversize_message_is_refused_and_nothing_after_it_is_sent() -> None:
    async with subscription() as (settings, sub, _):
        publisher = RabbitPublisher(settings, max_message_bytes=1024)
        first, too_big, after = (
            message(1, destination="orders.placed"),
            message(2, destination="orders.placed", size=2000),
            message(3, destination="orders.placed"),
        )
        try:
            with pytest.raises(MessageRefused) as refused:
                await publisher.publish([first, too_big, after])
        finally:
            await publisher.close()
        assert refused.value.message_id == too_big.id
        assert await queue_ids(settings, sub.queue) == [first.id]


async def test_a_message_without_an_envelope_is_dead_lettered_with_the_reason() -> None:
    async with subscription() as (settings, sub, subscribe):
        connection = await aio_pika.connect(URL, timeout=10)
        try:
            channel = await connection.channel()
            exchange = await channel.get_exchange(settings.exchange)
            await exchange.publish(aio_pika.Message(b"{}", message_id="raw-1"), "orders.x")
        finally:
            await connection.close()
        subscriber = subscribe()
        assert list(await subscriber.receive(max_messages=10, wait_seconds=1.0)) == []
        (dead,) = await peek_dead_letters(settings, dead_letter_queue_of(sub.queue))
        assert dead.message is None
        assert "specversion" in dead.reason


async def test_a_second_subscriber_receives_nothing_until_the_active_one_closes() -> None:
    async with subscription() as (settings, _, subscribe):
        active, standby = subscribe(), subscribe()
        for subscriber in (active, standby):  # both consume before anything is published
            assert list(await subscriber.receive(max_messages=10, wait_seconds=0.2)) == []
        publisher = RabbitPublisher(settings)
        sent = [message(n, key=f"order-{n}", destination="orders.placed") for n in range(4)]
        try:
            await publisher.publish(sent)
        finally:
            await publisher.close()
        first = await active.receive(max_messages=1, wait_seconds=5.0)
        assert list(await standby.receive(max_messages=10, wait_seconds=1.0)) == []
        await first[0].ack()
        await active.close()
        rest = await receive_all(standby, 3)
        assert [d.message.id for d in [*first, *rest]] == [m.id for m in sent]


async def test_a_queue_declared_before_with_other_arguments_is_a_lasting_failure() -> None:
    async with subscription() as (settings, sub, _):
        delay = delay_queue_of(sub.queue)  # a classic queue; subscribing wants a quorum one
        other = RabbitSubscriber(settings, replace(sub, queue=delay))
        try:
            with pytest.raises(BrokerUnavailable) as unavailable:
                await other.receive(wait_seconds=0.1)
        finally:
            await other.close()
            await delete_queues(delay_queue_of(delay), dead_letter_queue_of(delay))
        assert not unavailable.value.transient


async def test_wrong_credentials_are_a_lasting_failure() -> None:
    settings = RabbitSettings(url=URL.replace("guest:guest@", "guest:wrong@"), timeout_seconds=5)
    publisher = RabbitPublisher(settings)
    with pytest.raises(BrokerUnavailable) as unavailable:
        await publisher.publish([message(1, destination="orders.placed")])
    assert not unavailable.value.transient


async def test_after_its_connection_is_closed_a_subscriber_receives_each_message_once_more() -> (
    None
):
    async with subscription() as (settings, sub, _):
        name = f"subscriber-{uuid4().hex[:8]}"
        subscriber = RabbitSubscriber(replace(settings, url=f"{URL}?name={name}"), sub)
        sent = [message(n, destination="orders.placed") for n in range(3)]
        publisher = RabbitPublisher(settings)
        try:
            await publisher.publish(sent)
        finally:
            await publisher.close()
        try:
            (first,) = await receive_all(subscriber, 1, ack=False)  # the others are buffered
            assert await asyncio.to_thread(_close_connections_named, name) == 1
            await asyncio.sleep(0.5)
            with pytest.raises(BrokerUnavailable):
                await first.ack()
            again = await receive_all(subscriber, 3)
            assert list(await subscriber.receive(max_messages=10, wait_seconds=1.0)) == []
        finally:
            await subscriber.close()
        assert [d.message.id for d in again] == [m.id for m in sent]
        assert [d.attempt for d in again] == [2, 2, 2]


async def test_a_retried_message_is_delivered_again_before_its_keys_later_messages() -> None:
    """The queue's delivery limit makes the broker put a rejected message back at its head:
    with a window of two, a retried message comes back before the key's next ones (a quorum
    queue without a limit would put it behind all of them, out of the window)."""
    async with subscription() as (settings, sub, _):
        subscriber = RabbitSubscriber(settings, replace(sub, max_in_flight=2))
        sent = [message(n, destination="orders.placed") for n in range(1, 6)]
        publisher = RabbitPublisher(settings)
        try:
            await publisher.publish(sent)
            got: list[tuple[int, int]] = []
            try:
                while len(got) < 7:
                    for delivery in await subscriber.receive(max_messages=10, wait_seconds=5.0):
                        n = int(delivery.message.extensions["streamversion"])
                        got.append((n, delivery.attempt))
                        if n == 2 and delivery.attempt < 3:
                            await delivery.retry(0.2)
                            if delivery.attempt == 1:  # published after the retry began
                                await publisher.publish([message(6, destination="orders.placed")])
                        else:
                            await delivery.ack()
                got.extend(
                    (int(d.message.extensions["streamversion"]), d.attempt)
                    for d in await receive_all(subscriber, 1)
                )
            finally:
                await subscriber.close()
        finally:
            await publisher.close()
        assert got == [(1, 1), (2, 1), (2, 2), (2, 3), (3, 1), (4, 1), (5, 1), (6, 1)]


@pytest.mark.parametrize("window", [16, 2])
async def test_a_consumer_keeps_a_streams_order_through_retries_and_other_streams_go_on(
    window: int,
) -> None:
    """Messages 1..5 of a stream, the handler failing transiently twice on message 2: the
    stream is handled 1, 2, 3, 4, 5 and nothing is dead-lettered. With a window larger than
    the stream's waiting messages, another stream's messages are handled during the back-off;
    with a window of two, the stream's next message fills it and the other stream waits."""
    async with subscription() as (settings, sub, _):
        sent = [
            message(n, key=key, destination="orders.placed")
            for n in range(1, 6)
            for key in ("order-a", "order-b")
        ]
        publisher = RabbitPublisher(settings)
        try:
            await publisher.publish(sent)
        finally:
            await publisher.close()
        handled: list[tuple[str, int, float]] = []
        failures: list[float] = []
        all_handled = asyncio.Event()

        async def handle(ctx: ExecutionContext, received: Message) -> None:
            n = int(received.extensions["streamversion"])
            key = received.ordering_key
            if key == "order-a" and n == 2 and len(failures) < 2:
                failures.append(time.monotonic())
                raise ConcurrencyError(key, n - 1, n)
            handled.append((key, n, time.monotonic()))
            if len(handled) == len(sent):
                all_handled.set()

        options = ConsumerSettings(max_attempts=3, backoff=Backoff(0.3, 0.3), wait_seconds=0.1)
        async with build_runtime(event_store_module(InMemoryEventStore())) as runtime:
            subscriber = RabbitSubscriber(settings, replace(sub, max_in_flight=window))
            consumer = Consumer(subscriber, runtime, {"OrderPlaced": handle}, options)
            async with asyncio.timeout(30), asyncio.TaskGroup() as group:
                group.create_task(consumer.run())
                await all_handled.wait()
                await asyncio.sleep(0.5)  # nothing else arrives
                consumer.stop()
        assert [n for key, n, _ in handled if key == "order-a"] == [1, 2, 3, 4, 5]
        assert [n for key, n, _ in handled if key == "order-b"] == [1, 2, 3, 4, 5]
        assert len(handled) == 10
        assert len(failures) == 2
        a2 = next(at for key, n, at in handled if (key, n) == ("order-a", 2))
        b_during_backoff = [at < a2 for key, _, at in handled if key == "order-b"]
        assert all(b_during_backoff) if window == 16 else not all(b_during_backoff)
        assert failures[1] - failures[0] >= 0.25  # the back-off was waited
        assert await peek_dead_letters(settings, dead_letter_queue_of(sub.queue)) == []


async def test_a_closed_publisher_refuses_to_publish_rather_than_reconnect_quietly() -> None:
    async with subscription() as (settings, sub, _):
        publisher = RabbitPublisher(settings)
        sent = message(1, destination="orders.placed")
        await publisher.publish([sent])
        await publisher.close()
        with pytest.raises(BrokerUnavailable, match="closed") as refused:
            await publisher.publish([message(2, destination="orders.placed")])
        await publisher.close()  # still idempotent
        assert refused.value.transient is False
        assert await queue_ids(settings, sub.queue) == [sent.id]
