"""The brokers of ``messaging.py``: fresh destinations, forze's publisher and subscriber, and a
raw client publishing the same messages with the same guarantee; everything deleted after.

A :class:`Rig` has two destinations: ``relay`` (where the relay publishes) and ``raw`` (where
the raw client does), so what each delivered is counted apart. Its subscriber of ``relay`` is
described by strings (``subscriber_args``), so that another process (the latency scenario's
consumer) can open it with :func:`open_subscriber`. Servers come from the ``FORZE_TEST_*``
variables the tests use, with the same localhost defaults.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import aio_pika
from aio_pika import DeliveryMode, ExchangeType
from aiobotocore.session import get_session
from pamqp.commands import Basic

from forze.contracts import Message, Publisher, Subscriber
from forze.messaging import to_headers
from forze_rabbitmq import (
    HEADER_PREFIX,
    RabbitPublisher,
    RabbitSettings,
    RabbitSubscriber,
    RabbitSubscription,
    dead_letter_queue_of,
    declare_subscription,
    delay_queue_of,
)
from forze_redis import RedisStreamPublisher, RedisStreamSubscriber, connect
from forze_redis import _entries as redis_entries
from forze_redis._connection import call
from forze_sqs import SqsPublisher, SqsSettings, SqsSubscriber, SqsSubscription
from forze_sqs._attributes import message_attributes, message_body

__all__ = ["BROKERS", "Rig", "open_rig", "open_subscriber"]

RABBITMQ_URL = os.environ.get("FORZE_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("FORZE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SQS_ENDPOINT = os.environ.get("FORZE_TEST_SQS_ENDPOINT", "http://127.0.0.1:5055")
SQS = SqsSettings(endpoint_url=SQS_ENDPOINT, access_key_id="test", secret_access_key="test")
TIMEOUT = 30.0
"""Seconds any one broker call of the benchmark may take."""

BROKERS = ("rabbitmq", "redis", "sqs")
RABBITMQ_PREFETCH = 256
"""``max_in_flight`` of the RabbitMQ subscriptions."""
REDIS_GROUP = "bench"
"""The consumer group of the Redis subscriber."""

RawPublish = Callable[[Sequence[Message]], Awaitable[None]]


@dataclass
class Rig:
    """One broker, ready: forze's publisher, a raw publish, the description of a subscriber of
    ``relay``, counts."""

    broker: str
    relay: str
    raw: str
    publisher: Publisher
    raw_publish: RawPublish
    subscriber_args: list[str]
    """What :func:`open_subscriber` opens a subscriber of ``relay`` with, in any process."""
    count: Callable[[str], Awaitable[int]]
    """Messages waiting at the destination (``relay`` or ``raw``)."""


def open_rig(broker: str) -> AbstractAsyncContextManager[Rig]:
    """The async context manager opening ``broker``'s rig (one of :data:`BROKERS`)."""
    return {"rabbitmq": rabbitmq, "redis": redis, "sqs": sqs}[broker]()


def open_subscriber(broker: str, args: Sequence[str]) -> Subscriber:
    """A new forze subscriber of a rig's ``relay`` destination: ``broker`` and the rig's
    ``subscriber_args`` (the caller closes it)."""
    if broker == "rabbitmq":
        exchange, key = args
        return RabbitSubscriber(_rabbit_settings(exchange), _rabbit_subscription(exchange, key))
    if broker == "redis":
        stream, group = args
        return RedisStreamSubscriber(connect(REDIS_URL), stream, group)
    if broker == "sqs":
        (queue,) = args
        return SqsSubscriber(SQS, SqsSubscription(queue))
    raise ValueError(f"no subscriber for broker {broker!r}")


def _name() -> str:
    return f"forze-bench-{uuid4().hex[:12]}"


def _rabbit_settings(exchange: str) -> RabbitSettings:
    return RabbitSettings(url=RABBITMQ_URL, exchange=exchange, timeout_seconds=TIMEOUT)


def _rabbit_subscription(exchange: str, key: str) -> RabbitSubscription:
    """The durable queue ``<exchange>.<key>`` bound to ``key``."""
    return RabbitSubscription(f"{exchange}.{key}", key, RABBITMQ_PREFETCH)


@asynccontextmanager
async def rabbitmq() -> AsyncIterator[Rig]:
    """A fresh topic exchange with two durable quorum queues, ``<x>.relay`` bound to
    ``relay`` and ``<x>.raw`` bound to ``raw``; the raw client is aio-pika on its own
    connection, a channel with publisher confirms, each message sent with ``basic_publish``
    on the channel's underlay (as forze's publisher does) and every confirm awaited."""
    name = _name()
    subs = {key: _rabbit_subscription(name, key) for key in ("relay", "raw")}
    admin = await aio_pika.connect(RABBITMQ_URL, timeout=TIMEOUT)
    raw = await aio_pika.connect(RABBITMQ_URL, timeout=TIMEOUT)
    publisher = RabbitPublisher(_rabbit_settings(name))
    try:
        channel = await admin.channel()
        for sub in subs.values():
            await declare_subscription(channel, name, sub)
        raw_channel = await raw.channel(publisher_confirms=True)
        await raw_channel.declare_exchange(name, ExchangeType.TOPIC, durable=True)
        underlay = await raw_channel.get_underlay_channel()

        async def send(message: Message) -> object:
            properties = Basic.Properties(
                content_type=message.datacontenttype,
                message_id=message.id,
                delivery_mode=DeliveryMode.PERSISTENT.value,
                headers=dict(to_headers(message, HEADER_PREFIX)),
            )
            return await underlay.basic_publish(
                message.data,
                exchange=name,
                routing_key=message.destination,
                properties=properties,
            )

        async def raw_publish(messages: Sequence[Message]) -> None:
            async with asyncio.timeout(TIMEOUT):
                confirms = await asyncio.gather(*(send(m) for m in messages))
            if not all(isinstance(c, Basic.Ack) for c in confirms):
                raise RuntimeError("RabbitMQ did not confirm every raw message")

        async def count(key: str) -> int:
            queue = await channel.declare_queue(subs[key].queue, passive=True)
            result = queue.declaration_result.message_count
            return int(result or 0)

        args = [name, "relay"]
        yield Rig("rabbitmq", "relay", "raw", publisher, raw_publish, args, count)
    finally:
        await publisher.close()
        await raw.close()
        channel = await admin.channel()
        for sub in subs.values():
            for queue in (sub.queue, delay_queue_of(sub.queue), dead_letter_queue_of(sub.queue)):
                await channel.queue_delete(queue)
        await channel.exchange_delete(name)
        await admin.close()


@asynccontextmanager
async def redis() -> AsyncIterator[Rig]:
    """Two fresh streams, ``<x>:relay`` and ``<x>:raw``; the raw client is redis-py asyncio,
    one non-transactional pipeline of XADDs per call (the fields forze writes: ``ce_``
    attributes and ``data``)."""
    prefix = _name()
    relay_stream, raw_stream = f"{prefix}:relay", f"{prefix}:raw"
    client, raw = connect(REDIS_URL, timeout_seconds=TIMEOUT), connect(REDIS_URL)
    publisher = RedisStreamPublisher(client, timeout_seconds=TIMEOUT)
    try:

        async def raw_publish(messages: Sequence[Message]) -> None:
            async with asyncio.timeout(TIMEOUT), raw.pipeline(transaction=False) as pipe:
                for message in messages:
                    fields: dict[Any, Any] = dict(to_headers(message, redis_entries.HEADER_PREFIX))
                    fields[redis_entries.DATA_FIELD] = message.data
                    pipe.xadd(message.destination, fields)
                await pipe.execute()

        async def count(key: str) -> int:
            return int(await call(raw.xlen(relay_stream if key == "relay" else raw_stream)))

        args = [relay_stream, REDIS_GROUP]
        yield Rig("redis", relay_stream, raw_stream, publisher, raw_publish, args, count)
    finally:
        await raw.delete(relay_stream, raw_stream, f"{relay_stream}:dead")
        await raw.aclose()
        await publisher.close()


@asynccontextmanager
async def sqs() -> AsyncIterator[Rig]:
    """Two fresh standard queues on the moto server; the raw client is aiobotocore,
    SendMessageBatch of 10 entries (the body and message attributes forze sends), one batch
    after another."""
    prefix = _name()
    names = {"relay": f"{prefix}-relay", "raw": f"{prefix}-raw"}
    publisher = SqsPublisher(SQS)
    async with get_session().create_client(
        "sqs",
        region_name=SQS.region,
        endpoint_url=SQS_ENDPOINT,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ) as client:
        urls = {
            key: (await client.create_queue(QueueName=name))["QueueUrl"]
            for key, name in names.items()
        }
        try:

            async def raw_publish(messages: Sequence[Message]) -> None:
                for start in range(0, len(messages), 10):
                    entries = [
                        {
                            "Id": str(index),
                            "MessageBody": message_body(message),
                            "MessageAttributes": message_attributes(message),
                        }
                        for index, message in enumerate(messages[start : start + 10])
                    ]
                    async with asyncio.timeout(TIMEOUT):
                        result = await client.send_message_batch(
                            QueueUrl=urls["raw"], Entries=entries
                        )
                    if result.get("Failed"):
                        raise RuntimeError(f"SQS refused raw messages: {result['Failed']}")

            async def count(key: str) -> int:
                found = await client.get_queue_attributes(
                    QueueUrl=urls[key], AttributeNames=["ApproximateNumberOfMessages"]
                )
                return int(found["Attributes"]["ApproximateNumberOfMessages"])

            args = [names["relay"]]
            yield Rig("sqs", names["relay"], names["raw"], publisher, raw_publish, args, count)
        finally:
            await publisher.close()
            for url in urls.values():
                await client.delete_queue(QueueUrl=url)
