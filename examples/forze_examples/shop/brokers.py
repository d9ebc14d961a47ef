"""The shop on each broker: the publisher and the two channels, for the in-memory broker,
RabbitMQ, Redis Streams and SQS.

Each context reads its own inbox: ``<prefix>payments`` receives the orders' public events and
``<prefix>orders`` the payments'. On RabbitMQ and in memory the relays publish with the
default routing key ``<category>.<event type>`` (``topic``) to a topic exchange, and each
inbox is a queue bound to the other context's category; on Redis and SQS each relay sends
everything to the other context's inbox stream or queue.
"""

from __future__ import annotations

import aio_pika

from forze_examples.shop.contexts import Channel
from forze_examples.shop.shop import ShopBroker
from forze_mock import InMemoryBroker
from forze_projections import topic
from forze_rabbitmq import (
    RabbitPublisher,
    RabbitSettings,
    RabbitSubscriber,
    RabbitSubscription,
    declare_subscription,
)
from forze_redis import RedisStreamPublisher, RedisStreamSubscriber, connect
from forze_sqs import SqsPublisher, SqsSettings, SqsSubscriber, SqsSubscription, declare_queue

__all__ = ["in_memory_broker", "rabbitmq_broker", "redis_broker", "sqs_broker"]


def in_memory_broker(broker: InMemoryBroker, prefix: str = "") -> ShopBroker:
    """The shop on ``broker``: queues ``<prefix>payments`` (bound to ``order.#``) and
    ``<prefix>orders`` (bound to ``payment.#``)."""
    broker.declare(f"{prefix}payments", "order.#")
    broker.declare(f"{prefix}orders", "payment.#")
    return ShopBroker(
        "memory",
        broker.publisher,
        to_payments=Channel(topic, lambda: broker.subscriber(f"{prefix}payments")),
        to_orders=Channel(topic, lambda: broker.subscriber(f"{prefix}orders")),
    )


async def rabbitmq_broker(settings: RabbitSettings, prefix: str = "") -> ShopBroker:
    """The shop on RabbitMQ (the topic exchange of ``settings``): quorum queues
    ``<prefix>payments`` (``order.#``) and ``<prefix>orders`` (``payment.#``), each with its
    delay and dead-letter queues, declared now so that nothing published is unroutable."""
    payments = RabbitSubscription(f"{prefix}payments", "order.#")
    orders = RabbitSubscription(f"{prefix}orders", "payment.#")
    connection = await aio_pika.connect(settings.url, timeout=settings.timeout_seconds)
    try:
        channel = await connection.channel()
        for subscription in (payments, orders):
            await declare_subscription(channel, settings.exchange, subscription)
    finally:
        await connection.close()
    return ShopBroker(
        "rabbitmq",
        lambda: RabbitPublisher(settings),
        to_payments=Channel(topic, lambda: RabbitSubscriber(settings, payments)),
        to_orders=Channel(topic, lambda: RabbitSubscriber(settings, orders)),
    )


def redis_broker(url: str, prefix: str = "", *, claim_after_seconds: float = 5.0) -> ShopBroker:
    """The shop on Redis Streams at ``url``: streams ``<prefix>payments`` and
    ``<prefix>orders``, each read by the consumer group of its context."""

    def channel(stream: str, group: str) -> Channel:
        return Channel(
            stream,
            lambda: RedisStreamSubscriber(
                connect(url), stream, group, claim_after_seconds=claim_after_seconds
            ),
        )

    return ShopBroker(
        "redis",
        lambda: RedisStreamPublisher(connect(url)),
        to_payments=channel(f"{prefix}payments", "payments"),
        to_orders=channel(f"{prefix}orders", "orders"),
    )


async def sqs_broker(
    settings: SqsSettings, prefix: str = "", *, fifo: bool = True, visibility_timeout: int = 5
) -> ShopBroker:
    """The shop on SQS: queues ``<prefix>payments`` and ``<prefix>orders`` (``.fifo``
    queues, ordered per stream, when ``fifo``), with their dead-letter queues, created now."""
    suffix = ".fifo" if fifo else ""
    payments, orders = f"{prefix}payments{suffix}", f"{prefix}orders{suffix}"
    for queue in (payments, orders):
        await declare_queue(settings, queue, visibility_timeout=visibility_timeout)

    def channel(queue: str) -> Channel:
        subscription = SqsSubscription(queue, visibility_timeout=visibility_timeout)
        return Channel(queue, lambda: SqsSubscriber(settings, subscription))

    return ShopBroker(
        "sqs-fifo" if fifo else "sqs",
        lambda: SqsPublisher(settings),
        to_payments=channel(payments),
        to_orders=channel(orders),
    )
