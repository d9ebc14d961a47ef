"""``RabbitSubscriber``: deliveries from a subscription's work queue, handed out per key in order.

It consumes (``basic.consume``) into a buffer rather than polling with ``basic.get``: the
broker pushes up to ``max_in_flight`` messages ahead, with no round trip per message, and only
a consumer takes part in the queue's single active consumer, which is what keeps order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection
from aiormq.exceptions import ChannelInvalidStateError

from forze.contracts import Message
from forze.domain.errors import BrokerUnavailable, MalformedMessage
from forze.messaging import from_headers

from ._connection import RabbitSettings, connect, translated
from .delivery import REASON_HEADER, RabbitDelivery, publish_copy
from .publisher import HEADER_PREFIX
from .topology import RabbitSubscription, dead_letter_queue_of, declare_subscription

__all__ = ["RabbitSubscriber"]

log = logging.getLogger("forze.rabbitmq")


class RabbitSubscriber:
    """Receives from one subscription's work queue (see ``forze.contracts.Subscriber``).

    Order per key: the work queue has a single active consumer, so however many subscribers
    run, one receives at a time, in queue order, and the others take over when it goes.
    Within it, a message is not handed out while an earlier one of the same ordering key is
    unsettled. ``retry`` keeps the message unsettled for its delay, then returns it to the
    head of the queue (``basic.reject`` with requeue; see ``RabbitSubscription``), and the
    key's later messages already received stay held back until it is delivered again, so a
    retry never reorders its key; other keys go on meanwhile. Held-back messages take places
    of the ``max_in_flight`` window: when a key in back-off holds all of them, the queue
    waits for it. If the returned message does not come back within ``timeout_seconds``
    (the broker dead-lettered it at its delivery limit), the key is released with a
    warning. ``attempt`` counts deliveries with the quorum queue's ``x-delivery-count``, so
    retries count, and so does a message whose consumer died or that was only buffered
    (prefetched) by a subscriber that closed. A message that is not a valid envelope is
    dead-lettered at once with the reason, not handed out. Deliveries buffered or handed out
    on a channel that was since lost are dropped (settling one raises
    ``BrokerUnavailable``); the broker delivers them again on the new channel. ``close``
    closes the channel: what it holds unsettled, retries waiting for their delay included,
    goes back to the head of the queue at once.
    """

    def __init__(self, settings: RabbitSettings, subscription: RabbitSubscription) -> None:
        self._settings, self._subscription = settings, subscription
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._buffer: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._held: list[tuple[AbstractIncomingMessage, Message]] = []
        self._busy: dict[str, tuple[RabbitDelivery, AbstractIncomingMessage]] = {}
        self._returning: dict[str, tuple[str, float]] = {}
        """Keys whose retried message was returned to the queue: its id, and until when
        the key's other messages wait for it to be delivered again."""
        self._timers: set[asyncio.Task[None]] = set()
        self._freed = asyncio.Event()
        """Set when a key is settled: a waiting ``receive`` looks at the held messages again."""
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
            self._freed.clear()
            await self._take(channel, found, max_messages)
            left = deadline - loop.time()
            if found or left <= 0:
                break
            incoming = await self._arrival(left)
            if incoming is not None:
                await self._hold(channel, incoming)
        return found

    async def _arrival(self, seconds: float) -> AbstractIncomingMessage | None:
        """The next message pushed by the broker within ``seconds``; ``None`` sooner when a
        key is settled meanwhile (its held-back messages can go out now) or on time out."""
        getting = asyncio.ensure_future(self._buffer.get())
        freeing = asyncio.ensure_future(self._freed.wait())
        try:
            await asyncio.wait({getting, freeing}, timeout=seconds, return_when="FIRST_COMPLETED")
        finally:
            freeing.cancel()
            if not getting.done():
                getting.cancel()  # the queue keeps the message for the next get
        return getting.result() if getting.done() and not getting.cancelled() else None

    async def close(self) -> None:
        """Close the channel and connection; unsettled deliveries go back to the queue."""
        self._closed = True
        for timer in list(self._timers):
            timer.cancel()
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
        """Hand out held messages whose key is free, in arrival order, up to ``limit``."""
        while not self._buffer.empty():
            await self._hold(channel, self._buffer.get_nowait())
        arrived = {message.id for _, message in self._held}
        kept: list[tuple[AbstractIncomingMessage, Message]] = []
        for index, (incoming, message) in enumerate(self._held):
            if len(found) == limit:
                kept.extend(self._held[index:])
                break
            if _stale(incoming):  # its channel is gone: the broker delivers it again
                continue
            key = message.ordering_key
            if key and self._held_back(key, message.id, arrived):
                kept.append((incoming, message))
                continue
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
        self._held = kept

    async def _hold(self, channel: AbstractChannel, incoming: AbstractIncomingMessage) -> None:
        """Keep a pushed message, decoded once, until its key is free; a message that is not
        a valid envelope is dead-lettered at once."""
        try:
            message = from_headers(
                incoming.headers or {},
                incoming.body,
                HEADER_PREFIX,
                destination=self._subscription.queue,
            )
        except MalformedMessage as error:
            await self._give_up(channel, incoming, str(error))
            return
        self._held.append((incoming, message))

    def _held_back(self, key: str, message_id: str, arrived: set[str]) -> bool:
        """Whether a message of ``key`` must wait: an earlier one of the key is unsettled, or
        was returned by a retry and not delivered again yet (unless this is it; ``arrived``:
        the ids received and not handed out yet)."""
        returning = self._returning.get(key)
        if returning is not None:
            awaited, until = returning
            if message_id == awaited:
                del self._returning[key]
                return False
            if awaited in arrived or asyncio.get_running_loop().time() < until:
                return True
            del self._returning[key]
            log.warning(
                "retried message %s did not come back to %s within %.0fs; its key %r goes on",
                awaited,
                self._subscription.queue,
                self._settings.timeout_seconds,
                key,
            )
        holder = self._busy.get(key)
        return holder is not None and not _stale(holder[1])

    async def _settled(self, delivery: RabbitDelivery, retry_after: float | None) -> None:
        if retry_after is not None and not self._closed:  # closed: the broker has it back
            timer = asyncio.create_task(self._return_later(delivery, retry_after))
            self._timers.add(timer)
            timer.add_done_callback(self._timers.discard)
            return
        self._release(delivery)

    def _release(self, delivery: RabbitDelivery) -> None:
        key = delivery.message.ordering_key
        holder = self._busy.get(key)
        if holder is not None and holder[0] is delivery:
            del self._busy[key]
            self._freed.set()

    async def _return_later(self, delivery: RabbitDelivery, delay: float) -> None:
        """After ``delay``, return a retried message to the head of the queue; its key waits
        for it to come back. On a lost channel the broker returned it already."""
        await asyncio.sleep(delay)
        key, holder = delivery.message.ordering_key, self._busy.get(delivery.message.ordering_key)
        if holder is not None and holder[0] is delivery and _stale(holder[1]):
            self._release(delivery)
            return
        try:
            await delivery.requeue()
        except BrokerUnavailable as error:  # the channel went: it comes back on the new one
            log.warning("returning message %s failed: %s", delivery.message.id, error)
        else:
            if key:
                until = asyncio.get_running_loop().time() + self._settings.timeout_seconds
                self._returning[key] = (delivery.message.id, until)
        self._release(delivery)

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
