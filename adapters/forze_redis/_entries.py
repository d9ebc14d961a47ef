"""Stream entries as messages, and the dead-letter stream's entries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from redis.typing import EncodableT

from forze.contracts import Message
from forze.domain.errors import MalformedMessage
from forze.messaging import from_headers, to_headers

HEADER_PREFIX = "ce_"
DATA_FIELD = "data"
REASON_FIELD = "reason"
ATTEMPTS_FIELD = "attempts"

RawFields = Mapping[bytes, bytes]

_DATA_FIELD_BYTES = DATA_FIELD.encode()


def entry_arguments(message: Message) -> list[EncodableT]:
    """``*`` (a new entry id) then the entry's field names and values, flat and already bytes
    (so redis-py's encoder passes them through: a tenth of a publish's cost otherwise)."""
    arguments: list[EncodableT] = [b"*"]
    append = arguments.append
    for name, value in to_headers(message, HEADER_PREFIX).items():
        append(name.encode())
        append(value.encode())
    append(_DATA_FIELD_BYTES)
    append(message.data)
    return arguments


def text(value: bytes | str) -> str:
    """``value`` as text (redis-py returns bytes)."""
    return value.decode() if isinstance(value, bytes) else value


def decode_entry(fields: RawFields, stream: str) -> Message:
    """The message an entry of ``stream`` carries; ``MalformedMessage`` if it carries none."""
    try:
        headers = {text(name): value for name, value in fields.items()}
    except UnicodeDecodeError:
        raise MalformedMessage("a field name is not UTF-8 text") from None
    data = headers.get(DATA_FIELD)
    if data is None:
        raise MalformedMessage(f"entry has no {DATA_FIELD!r} field")
    return from_headers(headers, bytes(data), HEADER_PREFIX, destination=stream)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An entry a consumer group gave up: the message (``None`` when the entry did not
    carry a valid one), why, after how many deliveries, and the raw fields."""

    entry_id: str
    message: Message | None
    reason: str
    attempts: int
    fields: Mapping[str, bytes]
