"""``peek_dead_letters``: what is in a dead-letter queue, with each message's reason."""

from __future__ import annotations

from forze.contracts import Message
from forze.domain.errors import MalformedMessage

from ._attributes import REASON, received_message
from ._client import SqsConnection, SqsSettings

__all__ = ["peek_dead_letters"]


async def peek_dead_letters(
    settings: SqsSettings, queue: str, *, polls: int = 3
) -> list[tuple[Message, str]]:
    """The messages of dead-letter queue ``queue`` with their reasons, left in the queue.

    Reads ``polls`` times without hiding what it reads (visibility timeout 0), so it sees up
    to 10 messages per poll; a message put there by the redrive policy has the reason
    ``"redrive policy"``, one that is no valid envelope is skipped.
    """
    connection = SqsConnection(settings)
    found: dict[str, tuple[Message, str]] = {}
    try:
        url = await connection.queue_url(queue)
        for _ in range(polls):
            result = await connection.call(
                "receive_message",
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                VisibilityTimeout=0,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["MessageGroupId"],
            )
            for raw in result.get("Messages") or []:
                reason_value = (raw.get("MessageAttributes") or {}).get(REASON) or {}
                reason = str(reason_value.get("StringValue", "redrive policy"))
                try:
                    found[str(raw["MessageId"])] = (received_message(raw, queue), reason)
                except MalformedMessage:
                    continue
    finally:
        await connection.close()
    return list(found.values())
