"""``declare_queue``: a queue, its dead-letter queue and the redrive policy between them."""

from __future__ import annotations

import json

from ._client import SqsConnection, SqsSettings
from .subscriber import dead_letter_queue_of

__all__ = ["declare_queue"]


async def declare_queue(
    settings: SqsSettings,
    name: str,
    *,
    dead_letter_queue: str = "",
    max_receive_count: int = 5,
    visibility_timeout: int = 30,
    maximum_message_size: int | None = None,
) -> str:
    """Create queue ``name`` (FIFO when it ends ``.fifo``) and its dead-letter queue; its URL.

    The redrive policy moves a message received ``max_receive_count`` times without being
    settled to the dead-letter queue (default :func:`dead_letter_queue_of`). Creating a queue
    that exists with the same attributes changes nothing.
    """
    dead = dead_letter_queue or dead_letter_queue_of(name)
    attributes = {"VisibilityTimeout": str(visibility_timeout)}
    if maximum_message_size is not None:
        attributes["MaximumMessageSize"] = str(maximum_message_size)
    if name.endswith(".fifo"):
        attributes["FifoQueue"] = "true"
    connection = SqsConnection(settings)
    try:
        dead_url = (await connection.call("create_queue", QueueName=dead, Attributes=attributes))[
            "QueueUrl"
        ]
        found = await connection.call(
            "get_queue_attributes", QueueUrl=dead_url, AttributeNames=["QueueArn"]
        )
        policy = {"deadLetterTargetArn": found["Attributes"]["QueueArn"]}
        policy["maxReceiveCount"] = str(max_receive_count)
        attributes["RedrivePolicy"] = json.dumps(policy)
        created = await connection.call("create_queue", QueueName=name, Attributes=attributes)
        return str(created["QueueUrl"])
    finally:
        await connection.close()
