"""``RabbitSubscriber``: deliveries from a subscription's work queue, handed out per key in order.

It consumes (``basic.consume``) into a buffer rather than polling with ``basic.get``: the
broker pushes up to ``max_in_flight`` messages ahead, with no round trip per message, and only
a consumer takes part in the queue's single active consumer, which is what keeps order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection
from aiormq.exceptions import ChannelInvalidStateError

from forze.domain.errors import MalformedMessage
from forze.messaging import from_headers

from ._connection import RabbitSettings, connect, translated
from .delivery import REASON_HEADER, RabbitDelivery, publish_copy
from .publisher import HEADER_PREFIX
from .topology import RabbitSubscription, dead_letter_queue_of, declare_subscription

__all__ = ["RabbitSubscriber"]


class RabbitSubscriber:
    """Receives from one subscription's work queue (see ``forze.contracts.Subscriber``).

    Order per key: the work queue has a single active consumer, so however many subscribers
    run, one receives at a time, in queue order, and the others take over when it goes.
    Within it, a message is not handed out while an earlier one of the same ordering key is
    unsettled. ``retry`` sends a message to the back of the queue (after its delay), so it
    does not hold back later messages of its key: handlers that need strict order per key
    should not retry but fail (and be restarted). ``attempt`` counts deliveries with the
    quorum queue's ``x-delivery-count``, so a message whose consumer died counts too, and so
    does a message that was only buffered (prefetched) by a subscriber that closed. A message
    that is not a valid envelope is dead-lettered at once with the reason, not handed out.
    Deliveries buffered or handed out on a channel that was since lost are dropped (settling
    one raises ``BrokerUnavailable``); the broker delivers them again on the new channel.
    ``close`` closes the channel: what it holds unsettled goes back to the queue at once.
    """

    def __init__(self, settings: RabbitSettings, subscription: RabbitSubscription) -> None:
        self._settings, self._subscription = settings, subscription
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._buffer: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._held: list[AbstractIncomingMessage] = []
        self._busy: dict[str, tuple[RabbitDelivery, AbstractIncomingMessage]] = {}
        self._closed = False

    async def receive(
        self, *, max_messages: int = 10, wait_seconds: float = 1.0
    ) -> Sequence[RabbitDelivery]:
        """Up to ``max_messages`` deliveries, waiting at most ``wait_seconds`` for the first."""
        if self._closed:
            return []
        channel = await self._open()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(wait_seconds, 0.0)
        found: list[RabbitDelivery] = []
        while not found and not self._closed:
            await self._take(channel, found, max_messages)
            left = deadline - loop.time()
            if found or left <= 0:
                break
            try:
                async with asyncio.timeout(left):
                    incoming = await self._buffer.get()
            except TimeoutError:
                break
            self._held.append(incoming)
        return found

    async def close(self) -> None:
        """Close the channel and connection; unsettled deliveries go back to the queue."""
        self._closed = True
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            async with translated("closing", self._settings.timeout_seconds):
                await connection.close()

    async def _open(self) -> AbstractChannel:
        if self._channel is not None:
            return self._channel
        async with translated("subscribing", self._settings.timeout_seconds):
            if self._connection is None:
                self._connection = await connect(self._settings)
            channel = await self._connection.channel(publisher_confirms=True)
            await channel.set_qos(prefetch_count=self._subscription.max_in_flight)
            queue = await declare_subscription(channel, self._settings.exchange, self._subscription)
            await queue.consume(self._buffer.put)
            self._channel = channel
        return channel

    async def _take(
        self, channel: AbstractChannel, found: list[RabbitDelivery], limit: int
    ) -> None:
        while not self._buffer.empty():
            self._held.append(self._buffer.get_nowait())
        for incoming in list(self._held):
            if len(found) == limit:
                return
            if _stale(incoming):  # its channel is gone: the broker delivers it again
                self._held.remove(incoming)
                continue
            try:
                message = from_headers(
                    incoming.headers or {},
                    incoming.body,
                    HEADER_PREFIX,
                    destination=self._subscription.queue,
                )
            except MalformedMessage as error:
                self._held.remove(incoming)
                await self._give_up(channel, incoming, str(error))
                continue
            key = message.ordering_key
            holder = self._busy.get(key)
            if key and holder is not None and not _stale(holder[1]):
                continue
            self._held.remove(incoming)
            delivery = RabbitDelivery(
                incoming,
                message,
                channel,
                self._subscription.queue,
                self._settings.timeout_seconds,
                self._settled,
            )
            if key:
                self._busy[key] = (delivery, incoming)
            found.append(delivery)

    async def _settled(self, delivery: RabbitDelivery) -> None:
        key = delivery.message.ordering_key
        holder = self._busy.get(key)
        if holder is not None and holder[0] is delivery:
            del self._busy[key]

    async def _give_up(
        self, channel: AbstractChannel, incoming: AbstractIncomingMessage, reason: str
    ) -> None:
        async with translated("dead-lettering a malformed message", self._settings.timeout_seconds):
            queue = dead_letter_queue_of(self._subscription.queue)
            await publish_copy(channel, incoming, queue, {REASON_HEADER: reason})
            await incoming.ack()


def _stale(incoming: AbstractIncomingMessage) -> bool:
    """Whether ``incoming`` came on a channel that closed since (a lost connection): it can
    no longer be settled, and the broker has put it back in the queue."""
    try:
        incoming.channel  # noqa: B018 (the property raises once the channel is closed)
    except ChannelInvalidStateError:
        return True
    return False
