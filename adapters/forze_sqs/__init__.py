"""Amazon SQS adapters (aiobotocore): publishers and subscribers of standard and FIFO queues.

``SqsPublisher`` sends to the queue named by a message's ``destination``; ``SqsSubscriber``
receives from one queue (``SqsSubscription``); ``declare_queue`` creates a queue with its
dead-letter queue and redrive policy. The envelope travels in ``ce_`` message attributes (all
of them JSON in one ``ce_envelope`` attribute when they do not fit SQS's limit of 10).
``sqs_module`` provides the publisher to a runtime (``build_runtime``).
"""

from ._client import SqsSettings
from .dead_letters import peek_dead_letters
from .delivery import SqsDelivery
from .module import sqs_module
from .publisher import SqsPublisher
from .queues import declare_queue
from .subscriber import SqsSubscriber, SqsSubscription, dead_letter_queue_of

__all__ = [
    "SqsDelivery",
    "SqsPublisher",
    "SqsSettings",
    "SqsSubscriber",
    "SqsSubscription",
    "dead_letter_queue_of",
    "declare_queue",
    "peek_dead_letters",
    "sqs_module",
]
