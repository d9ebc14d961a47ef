"""The queues of one subscription: the work queue, its delay queue and its dead-letter queue.

``<queue>`` is a durable quorum queue bound to the topic exchange with a routing pattern, with
a single active consumer (so one consumer at a time receives it, in queue order), the broker's
delivery counter (``x-delivery-count``) and a delivery limit (``x-delivery-limit``). The limit
is what keeps a retried message's place: a quorum queue without one puts a message returned
with ``basic.reject``/``basic.nack`` (requeue) at its tail, behind every message published
since; with one it delivers it again before any message not yet delivered (measured on
RabbitMQ 3.10; RabbitMQ 4 always sets a limit, 20 by default). A message returned more times
than the limit is dead-lettered by the broker itself (reason ``delivery_limit``), so the
default is high: forze's ``max_attempts`` decides first. ``<queue>.dead`` receives what is
given up, through the default exchange. ``<queue>.delay`` is no longer used for retries; it is
declared so that copies an earlier version left in it still return to ``<queue>`` when their
TTL expires. Declaring a queue again with other arguments (a queue declared by an earlier
version without a delivery limit, or with another one) is refused by the broker (a
``BrokerUnavailable`` that is not transient): drain and delete it, then declare it again.
"""

from __future__ import annotations

from dataclasses import dataclass

from aio_pika import ExchangeType
from aio_pika.abc import AbstractChannel, AbstractQueue

__all__ = ["RabbitSubscription", "dead_letter_queue_of", "declare_subscription", "delay_queue_of"]


@dataclass(frozen=True, slots=True)
class RabbitSubscription:
    """A work queue receiving what the exchange routes to ``pattern`` (AMQP topic syntax:
    ``*`` one word, ``#`` any number), handed to each consumer ``max_in_flight`` at a time;
    the broker dead-letters a message returned more than ``delivery_limit`` times."""

    queue: str
    pattern: str = "#"
    max_in_flight: int = 32
    delivery_limit: int = 1_000_000


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
            "x-delivery-limit": subscription.delivery_limit,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": dead_letter_queue_of(queue),
        },
    )
    await work.bind(topic, subscription.pattern)
    return work
