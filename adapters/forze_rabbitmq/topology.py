"""The queues of one subscription: the work queue, its delay queue and its dead-letter queue.

``<queue>`` is a durable quorum queue bound to the topic exchange with a routing pattern, with
a single active consumer (so one consumer at a time receives it, in queue order) and the
broker's delivery counter (``x-delivery-count``). ``<queue>.delay`` holds retried copies, each
with its own TTL, and dead-letters them back to ``<queue>`` when they expire.
``<queue>.dead`` receives what is given up, through the default exchange. A delay queue
expires messages only from its head, so a retry with a long delay holds back shorter delays
queued behind it until it expires. Declaring a queue again with other arguments is refused
by the broker (a ``BrokerUnavailable`` that is not transient).
"""

from __future__ import annotations

from dataclasses import dataclass

from aio_pika import ExchangeType
from aio_pika.abc import AbstractChannel, AbstractQueue

__all__ = ["RabbitSubscription", "dead_letter_queue_of", "declare_subscription", "delay_queue_of"]


@dataclass(frozen=True, slots=True)
class RabbitSubscription:
    """A work queue receiving what the exchange routes to ``pattern`` (AMQP topic syntax:
    ``*`` one word, ``#`` any number), handed to each consumer ``max_in_flight`` at a time."""

    queue: str
    pattern: str = "#"
    max_in_flight: int = 32


def delay_queue_of(queue: str) -> str:
    """The name of the queue where retried messages of ``queue`` wait."""
    return f"{queue}.delay"


def dead_letter_queue_of(queue: str) -> str:
    """The name of the queue where the messages ``queue`` gave up are kept."""
    return f"{queue}.dead"


async def declare_subscription(
    channel: AbstractChannel, exchange: str, subscription: RabbitSubscription
) -> AbstractQueue:
    """Declare the exchange and the subscription's three queues (idempotent); the work queue."""
    queue = subscription.queue
    topic = await channel.declare_exchange(exchange, ExchangeType.TOPIC, durable=True)
    await channel.declare_queue(
        dead_letter_queue_of(queue), durable=True, arguments={"x-queue-type": "quorum"}
    )
    await channel.declare_queue(
        delay_queue_of(queue),
        durable=True,
        arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": queue},
    )
    work = await channel.declare_queue(
        queue,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-single-active-consumer": True,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": dead_letter_queue_of(queue),
        },
    )
    await work.bind(topic, subscription.pattern)
    return work
