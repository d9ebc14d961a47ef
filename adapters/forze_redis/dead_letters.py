"""Reading a dead-letter stream written by ``RedisStreamSubscriber``."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from forze.domain.errors import MalformedMessage
from forze_redis._connection import DEFAULT_TIMEOUT, call, guarded
from forze_redis._entries import ATTEMPTS_FIELD, REASON_FIELD, DeadLetter, decode_entry, text

__all__ = ["DeadLetter", "read_dead_letters"]


async def read_dead_letters(
    client: Redis, dead_letter_stream: str, *, count: int = 1000, after: str = "-"
) -> list[DeadLetter]:
    """Up to ``count`` entries of ``dead_letter_stream`` from ``after`` (an entry id, ``-``:
    the start), oldest first. Each keeps the original entry's fields plus ``reason`` and
    ``attempts``; an entry that never carried a valid message has ``message=None``."""
    async with guarded(f"XRANGE {dead_letter_stream}", DEFAULT_TIMEOUT):
        entries: list[Any] = await call(
            client.xrange(dead_letter_stream, min=after, max="+", count=count)
        )
    found: list[DeadLetter] = []
    for entry_id, fields in entries:
        try:
            message = decode_entry(fields, dead_letter_stream)
        except MalformedMessage:
            message = None
        attempts = text(fields.get(ATTEMPTS_FIELD.encode(), b"0"))
        found.append(
            DeadLetter(
                entry_id=text(entry_id),
                message=message,
                reason=text(fields.get(REASON_FIELD.encode(), b"")),
                attempts=int(attempts) if attempts.isdigit() else 0,
                fields={text(k): bytes(v) for k, v in fields.items()},
            )
        )
    return found
