"""``RabbitDelivery``: one received message and how it is settled."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aio_pika import DeliveryMode
from aio_pika import Message as AmqpMessage
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from forze.contracts import Message

from ._connection import translated
from .topology import dead_letter_queue_of

__all__ = [
    "ATTEMPT_HEADER",
    "REASON_HEADER",
    "RabbitDelivery",
    "attempt_of",
    "publish_copy",
]

ATTEMPT_HEADER = "forze-attempt"
"""The attempts a message had when it was dead-lettered, on its copy; on a work-queue message,
the attempt number of a retried copy's first delivery (absent: 1), which only copies left by an
earlier version in ``<queue>.delay`` carry (retries now return the message itself)."""

REASON_HEADER = "forze-dead-letter-reason"
"""Why a message was given up, on its copy in the dead-letter queue."""


def attempt_of(incoming: AbstractIncomingMessage) -> int:
    """Deliveries of ``incoming`` so far, this one included: the attempt its copy started at
    (``forze-attempt``, set only by copies an earlier version published) plus the times the
    quorum queue handed it out before, as its ``x-delivery-count`` says (a retry's
    ``basic.reject``; before RabbitMQ 4.3 also a closed channel or a lost connection) or its
    ``x-acquired-count`` (RabbitMQ 4.x: any return), whichever is higher."""
    headers = incoming.headers or {}
    before = max(
        _number(headers.get("x-delivery-count"), 0), _number(headers.get("x-acquired-count"), 0)
    )
    return _number(headers.get(ATTEMPT_HEADER), 1) + before


def _number(value: Any, default: int) -> int:
    return value if isinstance(value, int) and value >= 0 else default


class RabbitDelivery:
    """A message received from a work queue (see ``forze.contracts.Delivery``).

    ``retry`` keeps the message, unsettled, for the delay, then returns it to the head of the
    work queue with ``basic.reject(requeue=true)`` (the queue has a delivery limit, which is
    what makes a quorum queue put a returned message at its head rather than its tail); the
    broker counts it in ``x-delivery-count`` and delivers it again before anything else not
    yet delivered. The subscriber holds back the later messages of its ordering key until it
    is back, so a retry does not reorder its key. ``dead_letter`` publishes a copy with the
    reason to the dead-letter queue, confirmed before the ack: a crash in between leaves a
    duplicate, never a loss. Settling twice does nothing the second time.
    """

    def __init__(
        self,
        incoming: AbstractIncomingMessage,
        message: Message,
        channel: AbstractChannel,
        queue: str,
        timeout_seconds: float,
        settled: Callable[[RabbitDelivery, float | None], Awaitable[None]],
    ) -> None:
        self._incoming, self._message, self._channel = incoming, message, channel
        self._queue, self._timeout, self._settled = queue, timeout_seconds, settled
        self._attempt = attempt_of(incoming)
        self._done = False

    @property
    def message(self) -> Message:
        """The message as received (``destination``: the work queue)."""
        return self._message

    @property
    def attempt(self) -> int:
        """How many times it was delivered, this one included."""
        return self._attempt

    async def ack(self) -> None:
        """Handled: the queue forgets it."""
        await self._settle("acking", None, {})

    async def retry(self, delay_seconds: float) -> None:
        """Deliver it again after about ``delay_seconds``: held unsettled until then, then
        returned to the head of the queue (``basic.reject`` with requeue)."""
        if self._done:
            return
        self._done = True
        await self._settled(self, max(delay_seconds, 0.0))

    async def requeue(self) -> None:
        """Return it to the head of the work queue now (``basic.reject`` with requeue); the
        subscriber does this when a retry's delay is over."""
        async with translated(f"retrying {self._message.id!r}", self._timeout):
            await self._incoming.reject(requeue=True)

    async def dead_letter(self, reason: str) -> None:
        """Move it to the dead-letter queue with ``reason`` in ``forze-dead-letter-reason``."""
        headers: dict[str, Any] = {REASON_HEADER: reason, ATTEMPT_HEADER: self._attempt}
        await self._settle("dead-lettering", dead_letter_queue_of(self._queue), headers)

    async def _settle(self, what: str, copy_to: str | None, extra: dict[str, Any]) -> None:
        if self._done:
            return
        self._done = True
        try:
            async with translated(f"{what} {self._message.id!r}", self._timeout):
                if copy_to is not None:
                    await publish_copy(self._channel, self._incoming, copy_to, extra)
                await self._incoming.ack()
        finally:
            await self._settled(self, None)


async def publish_copy(
    channel: AbstractChannel,
    incoming: AbstractIncomingMessage,
    queue: str,
    extra: dict[str, Any],
    delay: float | None = None,
) -> None:
    """Publish a persistent copy of ``incoming`` to ``queue`` with ``extra`` headers (and a
    TTL of ``delay`` seconds) and wait for the broker's confirm."""
    headers = {
        k: v
        for k, v in (incoming.headers or {}).items()
        if k not in ("x-delivery-count", "x-acquired-count", "x-death")
    }
    headers.update(extra)
    copy = AmqpMessage(
        incoming.body,
        headers=headers,
        content_type=incoming.content_type,
        message_id=incoming.message_id,
        delivery_mode=DeliveryMode.PERSISTENT,
        expiration=None if delay is None else max(delay, 0.001),
    )
    await channel.default_exchange.publish(copy, queue, mandatory=False)
