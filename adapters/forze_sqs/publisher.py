"""``SqsPublisher``: messages to SQS standard and FIFO queues in batches of up to 10."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from forze.contracts import Message
from forze.domain.errors import BrokerUnavailable, MessageRefused

from ._attributes import encoded_size, message_attributes, message_body
from ._client import SqsConnection, SqsSettings

__all__ = ["SqsPublisher"]

BATCH = 10
"""The most entries of one SendMessageBatch."""

_GROUP_ID = re.compile(r"[\x21-\x7e]{1,128}")


@dataclass(frozen=True, slots=True)
class _Entry:
    message: Message
    params: dict[str, Any]
    size: int


class SqsPublisher:
    """Sends messages to the SQS queue named by each message's ``destination``.

    Messages go in order, in SendMessageBatch calls of up to 10 entries (and at most the
    queue's ``MaximumMessageSize`` in all), one call after another. On a FIFO queue (a name
    ending ``.fifo``) the MessageGroupId is the ordering key (the subject when empty; a key
    SQS does not accept as a group id is replaced by its SHA-256) and the
    MessageDeduplicationId the message id. A message larger than the queue accepts, or whose
    data SQS cannot carry, is refused (``MessageRefused``) after the messages before it were
    sent, and nothing after it is sent; should SQS itself refuse an entry for the sender's
    fault, the entries after it in that one batch may have been accepted already.

    Because one call's batches go one after another, the relay makes ``parallel_calls``
    calls at once (each with its own ordering keys).
    """

    parallel_calls = 8
    """How many calls at once the relay makes by default (see ``Publisher``)."""

    def __init__(self, settings: SqsSettings) -> None:
        self._connection = SqsConnection(settings)
        self._limits: dict[str, int] = {}

    async def publish(self, messages: Sequence[Message]) -> None:
        """Send ``messages``; return once SQS accepted all of them."""
        batch: list[_Entry] = []
        for message in messages:
            entry, refusal = await self._entry(message, len(batch))
            if batch and (
                len(batch) == BATCH
                or batch[0].message.destination != message.destination
                or refusal is not None
                or sum(e.size for e in batch) + entry.size > self._limits[message.destination]
            ):
                await self._send(batch)
                batch = []
                entry = _Entry(entry.message, {**entry.params, "Id": "0"}, entry.size)
            if refusal is not None:
                raise refusal
            batch.append(entry)
        if batch:
            await self._send(batch)

    async def close(self) -> None:
        """Close the connection (idempotent)."""
        await self._connection.close()

    async def _entry(self, message: Message, index: int) -> tuple[_Entry, MessageRefused | None]:
        queue = message.destination
        if not queue:
            return _Entry(message, {}, 0), MessageRefused(message.id, "no destination queue")
        limit = await self._limit(queue)
        try:
            body = message_body(message)
            attributes = message_attributes(message)
        except MessageRefused as refused:
            return _Entry(message, {}, 0), refused
        size = encoded_size(body, attributes)
        params: dict[str, Any] = {
            "Id": str(index),
            "MessageBody": body,
            "MessageAttributes": attributes,
        }
        if queue.endswith(".fifo"):
            params["MessageGroupId"] = _group_id(message.ordering_key or message.subject)
            params["MessageDeduplicationId"] = message.id
        entry = _Entry(message, params, size)
        if size > limit:
            reason = f"{size} bytes is over the queue's limit of {limit} bytes"
            return entry, MessageRefused(message.id, reason)
        return entry, None

    async def _limit(self, queue: str) -> int:
        limit = self._limits.get(queue)
        if limit is None:
            url = await self._connection.queue_url(queue)
            found = await self._connection.call(
                "get_queue_attributes", QueueUrl=url, AttributeNames=["MaximumMessageSize"]
            )
            limit = int(found.get("Attributes", {}).get("MaximumMessageSize", 262_144))
            self._limits[queue] = limit
        return limit

    async def _send(self, batch: list[_Entry]) -> None:
        url = await self._connection.queue_url(batch[0].message.destination)
        result = await self._connection.call(
            "send_message_batch", QueueUrl=url, Entries=[e.params for e in batch]
        )
        failed = sorted(result.get("Failed") or [], key=lambda f: int(f["Id"]))
        for failure in failed:
            message = batch[int(failure["Id"])].message
            reason = f"{failure.get('Code', '')}: {failure.get('Message', '')}"
            if failure.get("SenderFault"):
                raise MessageRefused(message.id, reason)
            raise BrokerUnavailable(f"SQS did not accept message {message.id!r}: {reason}")


def _group_id(key: str) -> str:
    """``key`` as a FIFO MessageGroupId (its SHA-256 when SQS would not accept it)."""
    if _GROUP_ID.fullmatch(key):
        return key
    return "sha256-" + hashlib.sha256(key.encode()).hexdigest()
