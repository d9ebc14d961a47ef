"""``RedisStreamPublisher``: messages as Redis stream entries (pipelined XADD)."""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis
from redis.typing import EncodableT

from forze.contracts import Message
from forze.domain.errors import (
    BrokerUnavailable,
    InvalidInputError,
    MalformedMessage,
    MessageRefused,
)
from forze_redis import _entries
from forze_redis._connection import DEFAULT_TIMEOUT, guarded

__all__ = ["DATA_FIELD", "HEADER_PREFIX", "RedisStreamPublisher"]

HEADER_PREFIX = _entries.HEADER_PREFIX
"""The prefix of the CloudEvents attributes among an entry's fields."""

DATA_FIELD = _entries.DATA_FIELD
"""The entry field holding the message body."""


class RedisStreamPublisher:
    """A :class:`forze.contracts.Publisher` appending each message to the stream named by its
    ``destination`` (``default_stream`` when it has none).

    One call is one pipeline, sent in order, so the messages of an ordering key keep their
    order within and across calls. ``maxlen`` trims each stream to about that many entries
    (``MAXLEN ~``: trimming never blocks the append). A body over ``max_message_bytes`` (or
    a message without a stream or with a bad attribute) is refused with ``MessageRefused``
    after the messages before it are appended; nothing after it is sent. Connection failures
    and timeouts raise ``BrokerUnavailable``; the messages of that call may or may not have
    been appended (publish again: consumers deduplicate by message id).
    """

    def __init__(
        self,
        client: Redis,
        *,
        default_stream: str = "",
        maxlen: int | None = None,
        max_message_bytes: int = 1024 * 1024,
        timeout_seconds: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._client = client
        self._default_stream = default_stream
        self._max_bytes = max_message_bytes
        self._timeout = timeout_seconds
        self._closed = False
        self._trim: tuple[EncodableT, ...] = () if maxlen is None else (b"MAXLEN", b"~", maxlen)
        if maxlen is not None and maxlen < 0:
            raise InvalidInputError(f"maxlen must be >= 0, not {maxlen}")

    async def publish(self, messages: Sequence[Message]) -> None:
        """See ``Publisher.publish``: returns once every entry was appended. After
        :meth:`close`, a lasting ``BrokerUnavailable`` (it never reconnects by itself)."""
        if self._closed:
            raise BrokerUnavailable("the Redis stream publisher is closed", transient=False)
        entries: list[tuple[str, list[EncodableT]]] = []
        refused: MessageRefused | None = None
        for message in messages:
            try:
                entries.append((self._stream_of(message), self._fields_of(message)))
            except MessageRefused as error:
                refused = error
                break
        if entries:
            async with (
                guarded(f"XADD of {len(entries)} entries", self._timeout),
                self._client.pipeline(transaction=False) as pipe,
            ):
                # XADD <stream> [MAXLEN ~ n] * field value ...: what ``pipe.xadd`` sends,
                # without its per-call argument checks (the fields are ours, checked above).
                for stream, arguments in entries:
                    pipe.execute_command("XADD", stream, *self._trim, *arguments)
                await pipe.execute()
        if refused is not None:
            raise refused

    def _stream_of(self, message: Message) -> str:
        stream = message.destination or self._default_stream
        if not stream:
            raise MessageRefused(message.id, "no destination stream")
        return stream

    def _fields_of(self, message: Message) -> list[EncodableT]:
        """``*`` (a new entry id) then the entry's fields and values, flat."""
        if len(message.data) > self._max_bytes:
            raise MessageRefused(message.id, f"{len(message.data)} bytes is over {self._max_bytes}")
        try:
            return _entries.entry_arguments(message)
        except MalformedMessage as error:
            raise MessageRefused(message.id, str(error)) from None

    async def close(self) -> None:
        """Close the client's connections (idempotent); the publisher cannot be used again."""
        self._closed = True
        await self._client.aclose()
