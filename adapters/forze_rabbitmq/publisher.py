"""``RabbitPublisher``: persistent messages to a durable topic exchange, with publisher confirms."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import aiormq
from aio_pika import DeliveryMode, ExchangeType
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from pamqp.commands import Basic

from forze.contracts import Message, RecordedEvent
from forze.domain.errors import BrokerUnavailable, MalformedMessage, MessageRefused
from forze.messaging import to_headers

from ._connection import RabbitSettings, connect, translated

__all__ = ["HEADER_PREFIX", "RabbitPublisher", "routing_key"]

HEADER_PREFIX = "cloudEvents:"
"""The prefix of the CloudEvents attributes in AMQP application properties (the CloudEvents
AMQP protocol binding)."""

DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""The largest body sent by default (RabbitMQ's own ``max_message_size`` is 128 MiB)."""

_MAX_ROUTING_KEY = 255


def routing_key(event: RecordedEvent) -> str:
    """The routing key of ``event``: ``<category>.<event type>`` (``order.OrderPlaced``)."""
    return f"{event.category}.{event.event_type}"


class RabbitPublisher:
    """Publishes to the settings' topic exchange (declared durable) with routing key
    ``message.destination``.

    Each message is persistent, carries its CloudEvents attributes as ``cloudEvents:``
    headers, its data as the body, its ``datacontenttype`` as content type and its id as
    message id. One call's messages are written one after another on one channel (so the
    broker keeps their order), without waiting in between; the call returns once the broker
    confirmed every one. A body over ``max_message_bytes`` (or an invalid routing key or
    attribute) is refused with ``MessageRefused`` after the messages before it were confirmed,
    and nothing after it is sent. A message the broker nacks, a lost connection or a call
    over ``timeout_seconds`` raise a transient ``BrokerUnavailable``: some messages of the call
    may have been accepted, and publishing them again may deliver duplicates (consumers
    deduplicate by id). A message no queue is bound for is dropped by the broker, as on any
    topic exchange; with ``mandatory=True`` it is returned instead and raises
    ``MessageRefused`` (the messages after it in the same call were sent already).
    """

    def __init__(
        self,
        settings: RabbitSettings | None = None,
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        mandatory: bool = False,
    ) -> None:
        self._settings = settings or RabbitSettings()
        self._max = max_message_bytes
        self._mandatory = mandatory
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    async def publish(self, messages: Sequence[Message]) -> None:
        """Send ``messages``; return once the broker confirmed all of them. After
        :meth:`close`, a lasting ``BrokerUnavailable`` (it never reconnects by itself)."""
        if self._closed:
            raise BrokerUnavailable("the RabbitMQ publisher is closed", transient=False)
        if not messages:
            return
        timeout = self._settings.timeout_seconds
        async with translated("publishing", timeout):
            channel = await self._open()
            underlay = await channel.get_underlay_channel()
            sent: list[tuple[Message, asyncio.Task[aiormq.abc.ConfirmationFrameType | None]]] = []
            refusal: MessageRefused | None = None
            for message in messages:
                refusal = self._refusal(message)
                if refusal is not None:
                    break
                task = asyncio.create_task(self._send(underlay, message))
                sent.append((message, task))
            results = await asyncio.gather(*(t for _, t in sent), return_exceptions=True)
        for (message, _), result in zip(sent, results, strict=True):
            _check(message, result)
        if refusal is not None:
            raise refusal

    async def close(self) -> None:
        """Close the connection (idempotent); the publisher cannot be used again."""
        self._closed = True
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            async with translated("closing", self._settings.timeout_seconds):
                await connection.close()

    async def _open(self) -> AbstractChannel:
        async with self._lock:
            if self._closed:
                raise BrokerUnavailable("the RabbitMQ publisher is closed", transient=False)
            if self._connection is None:
                self._connection = await connect(self._settings)
            if self._channel is None:
                channel = await self._connection.channel(publisher_confirms=True)
                await channel.declare_exchange(
                    self._settings.exchange, ExchangeType.TOPIC, durable=True
                )
                self._channel = channel
            return self._channel

    def _refusal(self, message: Message) -> MessageRefused | None:
        if len(message.data) > self._max:
            return MessageRefused(message.id, f"{len(message.data)} bytes is over {self._max}")
        if not message.destination or len(message.destination.encode()) > _MAX_ROUTING_KEY:
            return MessageRefused(message.id, "a routing key needs 1 to 255 bytes")
        try:
            to_headers(message, HEADER_PREFIX)
        except MalformedMessage as error:
            return MessageRefused(message.id, str(error))
        return None

    async def _send(
        self, channel: aiormq.abc.AbstractChannel, message: Message
    ) -> aiormq.abc.ConfirmationFrameType | None:
        properties = Basic.Properties(
            content_type=message.datacontenttype,
            message_id=message.id,
            delivery_mode=DeliveryMode.PERSISTENT.value,
            headers=dict(to_headers(message, HEADER_PREFIX)),
        )
        return await channel.basic_publish(
            message.data,
            exchange=self._settings.exchange,
            routing_key=message.destination,
            properties=properties,
            mandatory=self._mandatory,
        )


def _check(message: Message, result: object) -> None:
    if isinstance(result, aiormq.abc.DeliveredMessage):
        raise MessageRefused(message.id, f"no queue is bound for {message.destination!r}")
    if isinstance(result, aiormq.exceptions.DeliveryError):
        raise BrokerUnavailable(f"RabbitMQ: the broker nacked message {message.id!r}")
    if isinstance(result, BaseException):
        raise BrokerUnavailable(
            f"RabbitMQ: publishing {message.id!r} failed: {type(result).__name__}: {result}"
        )
