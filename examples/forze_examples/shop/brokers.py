"""The shop on each broker: the publisher and the two channels, for the in-memory broker,
RabbitMQ, Redis Streams and SQS.

Each context reads its own inbox: ``<prefix>payments`` receives the orders' public events and
``<prefix>orders`` the payments'. On RabbitMQ and in memory the relays publish with the
default routing key ``<category>.<event type>`` to a topic exchange, and each inbox is a queue
bound to the other context's category; on Redis and SQS each relay sends everything to the
other context's inbox stream or queue.
"""

from __future__ import annotations

import aio_pika

from forze_examples.shop.contexts import Channel
from forze_examples.shop.shop import ShopBroker
from forze_mock import InMemoryBroker
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
        to_payments=Channel("order.#", lambda: broker.subscriber(f"{prefix}payments")).routed(),
        to_orders=Channel("payment.#", lambda: broker.subscriber(f"{prefix}orders")).routed(),
    )
