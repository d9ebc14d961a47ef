"""Messages to and from brokers: the CloudEvents envelope every adapter uses, and the consumer
runtime that hands received messages to handlers."""

from forze.messaging._handlers import MessageHandler, idempotent
from forze.messaging.consumer import Consumer, ConsumerSettings
from forze.messaging.envelope import (
    EXTENSIONS,
    SPEC_VERSION,
    from_headers,
    message_data,
    message_of,
    to_headers,
)

__all__ = [
    "EXTENSIONS",
    "SPEC_VERSION",
    "Consumer",
    "ConsumerSettings",
    "MessageHandler",
    "from_headers",
    "idempotent",
    "message_data",
    "message_of",
    "to_headers",
]
