"""Reading a dead-letter queue without consuming it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from forze.contracts import Message
from forze.domain.errors import MalformedMessage
from forze.messaging import from_headers

from ._connection import RabbitSettings, connect, translated
from .delivery import REASON_HEADER
from .publisher import HEADER_PREFIX

__all__ = ["RabbitDeadLetter", "peek_dead_letters"]


@dataclass(frozen=True, slots=True)
class RabbitDeadLetter:
    """A message a queue gave up: the message (``None`` if it was no valid envelope), why,
    and its AMQP headers."""

    message: Message | None
    reason: str
    headers: Mapping[str, Any]


def _reason(headers: Mapping[str, Any]) -> str:
    reason = headers.get(REASON_HEADER)
    if reason is None:  # dead-lettered by the broker itself (a reject, a delivery limit)
        reason = headers.get("x-first-death-reason", "unknown")
    return reason.decode() if isinstance(reason, bytes) else str(reason)


async def peek_dead_letters(
    settings: RabbitSettings, queue: str, *, limit: int = 1000
) -> list[RabbitDeadLetter]:
    """Up to ``limit`` messages of the dead-letter queue ``queue``, oldest first, left in it
    (they are fetched unacknowledged and go back when the channel closes)."""
    connection = await connect(settings)
    try:
        async with translated(f"reading {queue!r}", settings.timeout_seconds):
            channel = await connection.channel()
            source = await channel.get_queue(queue, ensure=True)
            found: list[RabbitDeadLetter] = []
            while len(found) < limit:
                incoming = await source.get(fail=False)
                if incoming is None:
                    break
                headers = dict(incoming.headers or {})
                try:
                    message: Message | None = from_headers(
                        headers, incoming.body, HEADER_PREFIX, destination=queue
                    )
                except MalformedMessage:
                    message = None
                found.append(RabbitDeadLetter(message, _reason(headers), headers))
            return found
    finally:
        async with translated("closing", settings.timeout_seconds):
            await connection.close()
