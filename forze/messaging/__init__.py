"""Messages to and from brokers: the CloudEvents envelope every adapter uses."""

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
    "from_headers",
    "message_data",
    "message_of",
    "to_headers",
]
