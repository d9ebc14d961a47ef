"""RabbitMQ adapters (aio-pika): a publisher with confirms to a topic exchange, and queue
subscribers.

``RabbitPublisher`` sends persistent messages to a durable topic exchange with routing key
``message.destination`` (``routing_key(event)``: ``<category>.<event type>``) and returns once
the broker confirmed them. ``RabbitSubscriber`` receives from a durable quorum queue with a
single active consumer and a delivery limit (``RabbitSubscription``), where a retried message
is returned to the head of the queue after its back-off so each key keeps its order, and a
dead-letter queue (``peek_dead_letters``). The envelope travels as ``cloudEvents:`` headers.
``rabbitmq_module`` provides the publisher to a runtime (``build_runtime``).
"""

from ._connection import RabbitSettings
from .dead_letters import RabbitDeadLetter, peek_dead_letters
from .delivery import ATTEMPT_HEADER, REASON_HEADER, RabbitDelivery, attempt_of, publish_copy
from .module import rabbitmq_module
from .publisher import HEADER_PREFIX, RabbitPublisher, routing_key
from .subscriber import RabbitSubscriber
from .topology import (
    RabbitSubscription,
    dead_letter_queue_of,
    declare_subscription,
    delay_queue_of,
)

__all__ = [
    "ATTEMPT_HEADER",
    "HEADER_PREFIX",
    "REASON_HEADER",
    "RabbitDeadLetter",
    "RabbitDelivery",
    "RabbitPublisher",
    "RabbitSettings",
    "RabbitSubscriber",
    "RabbitSubscription",
    "attempt_of",
    "dead_letter_queue_of",
    "declare_subscription",
    "delay_queue_of",
    "peek_dead_letters",
    "publish_copy",
    "rabbitmq_module",
    "routing_key",
]
