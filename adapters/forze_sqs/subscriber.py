"""``SqsSubscriber``: long-polled deliveries of one SQS queue, settled by delete, visibility
change or a copy to the dead-letter queue."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from forze.contracts import Delivery
from forze.domain.errors import BrokerUnavailable, MalformedMessage

from ._attributes import REASON, received_message
from ._client import SqsConnection, SqsSettings
from ._deletes import DeleteBatcher
from ._gate import KeyGate
from .delivery import SqsDelivery

__all__ = ["SqsSubscriber", "SqsSubscription", "dead_letter_queue_of"]

_LONGEST_POLL = 20
_HELD_POLL = 0.2
"""The longest pause between short polls while deliveries are held for their key."""


def dead_letter_queue_of(queue: str) -> str:
    """The default dead-letter queue of ``queue``: ``<queue>-dead`` (``<name>-dead.fifo``)."""
    if queue.endswith(".fifo"):
        return queue[: -len(".fifo")] + "-dead.fifo"
    return queue + "-dead"


@dataclass(frozen=True, slots=True)
class SqsSubscription:
    """What a subscriber receives and how.

    ``visibility_timeout``: seconds a received message stays hidden from other consumers;
    while it is unsettled and ``extend_visibility`` is on, a heartbeat extends it by as much
    every ``visibility_timeout / 2`` seconds, so a slow handler keeps its message and a
    crashed one gives it back after at most ``visibility_timeout``. ``dead_letter_queue``
    defaults to :func:`dead_letter_queue_of`.
    """

    queue: str
    dead_letter_queue: str = ""
    visibility_timeout: int = 30
    extend_visibility: bool = True


class SqsSubscriber:
    """Receives from one SQS queue (each instance one consumer of it).

    ``attempt`` is SQS's ApproximateReceiveCount. ``ack`` deletes the message, in
    DeleteMessageBatch calls shared by the acks that arrive together (each still returns once
    its message is deleted); ``retry(delay)`` sets its visibility timeout to
    the delay; ``dead_letter(reason)`` sends a copy with the reason in the
    ``forze_dead_letter_reason`` attribute to the dead-letter queue and then deletes it (the
    queue's own redrive policy catches the messages no consumer ever settles). A message that
    is not a valid envelope is dead-lettered here at once with the ``MalformedMessage`` text
    and never returned. ``close()`` makes every unsettled delivery visible again at once.
    """

    def __init__(self, settings: SqsSettings, subscription: SqsSubscription) -> None:
        self._connection = SqsConnection(settings)
        self._subscription = subscription
        self._unsettled: set[SqsDelivery] = set()
        self._gate: KeyGate[SqsDelivery] = KeyGate()
        self._deletes = DeleteBatcher(self._delete_batch)
        self._closed = False

    async def receive(
        self, *, max_messages: int = 10, wait_seconds: float = 1.0
    ) -> Sequence[Delivery]:
        """Up to ``max_messages`` (at most 10) deliveries, waiting at most ``wait_seconds``.

        At most one delivery per ordering key is unsettled at a time: later ones of the key
        SQS returned together are held (invisible to others) until it is settled. While some
        are held, SQS is polled without a long poll (at most every 0.2 s), and a held one is
        handed out as soon as its key is settled."""
        if self._closed:
            raise BrokerUnavailable("the SQS subscriber is closed", transient=False)
        limit = max(1, min(max_messages, 10))
        ready = self._gate.ready(limit)
        if ready:
            return ready
        deadline = time.monotonic() + max(wait_seconds, 0.0)
        while True:
            remaining = deadline - time.monotonic()
            # while deliveries are held, no long poll: one is handed out once its key is free
            poll = 0 if self._gate.holding else min(_LONGEST_POLL, max(int(remaining), 0))
            raws = await self._receive(limit, poll)
            received = [d for d in [await self._delivery(raw) for raw in raws] if d]
            given = self._gate.admit(received, limit)
            if given or time.monotonic() >= deadline:
                return given
            if self._gate.holding:
                given = await self._held_freed(limit, deadline)
                if given:
                    return given
            elif poll == 0:
                await asyncio.sleep(min(0.1, max(deadline - time.monotonic(), 0.0)))

    async def _held_freed(self, limit: int, deadline: float) -> list[SqsDelivery]:
        """Held deliveries whose key is freed within ``_HELD_POLL`` seconds (or the deadline)."""
        self._gate.freed.clear()
        given = self._gate.ready(limit)
        if not given:
            wait = min(_HELD_POLL, max(deadline - time.monotonic(), 0.0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._gate.freed.wait(), wait)
            given = self._gate.ready(limit)
        return given

    async def close(self) -> None:
        """Stop; unsettled deliveries become visible again at once (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            for delivery in list(self._unsettled):
                delivery.settling()
                # On failure it comes back after its visibility timeout anyway.
                with contextlib.suppress(BrokerUnavailable):
                    await self.change_visibility(delivery.receipt, 0)
        finally:
            self._unsettled.clear()
            await self._deletes.wait_idle()  # acks already asked for are answered first
            await self._connection.close()

    async def _receive(self, count: int, wait: int) -> list[Mapping[str, Any]]:
        url = await self._connection.queue_url(self._subscription.queue)
        result = await self._connection.call(
            "receive_message",
            QueueUrl=url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait,
            VisibilityTimeout=self._subscription.visibility_timeout,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["ApproximateReceiveCount", "MessageGroupId"],
        )
        return list(result.get("Messages") or [])

    async def _delivery(self, raw: Mapping[str, Any]) -> SqsDelivery | None:
        receipt = str(raw["ReceiptHandle"])
        attempt = int((raw.get("Attributes") or {}).get("ApproximateReceiveCount", 1))
        try:
            message = received_message(raw, self._subscription.queue)
        except MalformedMessage as error:
            await self.dead_letter(raw, str(error))
            await self.delete(receipt)
            return None
        delivery = SqsDelivery(self, message, attempt, receipt, raw)
        self._unsettled.add(delivery)
        if self._subscription.extend_visibility:
            delivery.keep_visible(self._subscription.visibility_timeout)
        return delivery

    def forget(self, delivery: SqsDelivery) -> None:
        """``delivery`` was settled (called by the delivery)."""
        self._unsettled.discard(delivery)
        self._gate.settled(delivery.key)

    def take_held(self, key: str) -> list[SqsDelivery]:
        """Take the held deliveries of ``key`` out (settled): on a retry, before the retried
        one is settled, so that none of them is handed out ahead of it."""
        held = self._gate.release(key)
        for delivery in held:
            delivery.settling()
        return held

    async def give_back(self, held: Sequence[SqsDelivery]) -> None:
        """Make ``held`` (from :meth:`take_held`) visible to SQS again at once."""
        for delivery in held:
            await self.change_visibility(delivery.receipt, 0)

    async def delete(self, receipt: str) -> None:
        """Delete the message received with ``receipt`` (in a DeleteMessageBatch it may share
        with other deletes asked for meanwhile); returns once SQS deleted it."""
        await self._deletes.delete(receipt)

    async def _delete_batch(self, entries: list[dict[str, str]]) -> dict[str, Any]:
        url = await self._connection.queue_url(self._subscription.queue)
        return await self._connection.call("delete_message_batch", QueueUrl=url, Entries=entries)

    async def change_visibility(self, receipt: str, seconds: int) -> None:
        """ChangeMessageVisibility of the message received with ``receipt``."""
        url = await self._connection.queue_url(self._subscription.queue)
        await self._connection.call(
            "change_message_visibility",
            QueueUrl=url,
            ReceiptHandle=receipt,
            VisibilityTimeout=seconds,
        )

    async def dead_letter(self, raw: Mapping[str, Any], reason: str) -> None:
        """Send a copy of received message ``raw`` with ``reason`` to the dead-letter queue."""
        queue = self._subscription.dead_letter_queue or dead_letter_queue_of(
            self._subscription.queue
        )
        kept = list((raw.get("MessageAttributes") or {}).items())[:9]  # SQS allows 10
        attributes = dict(kept)
        attributes[REASON] = {"DataType": "String", "StringValue": reason or "(no reason)"}
        params: dict[str, Any] = {
            "QueueUrl": await self._connection.queue_url(queue),
            "MessageBody": str(raw.get("Body", "")) or " ",
            "MessageAttributes": attributes,
        }
        if queue.endswith(".fifo"):
            system = raw.get("Attributes") or {}
            params["MessageGroupId"] = str(system.get("MessageGroupId") or "dead-letters")
            params["MessageDeduplicationId"] = str(raw.get("MessageId", ""))[:128]
        await self._connection.call("send_message", **params)
