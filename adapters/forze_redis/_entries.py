"""Stream entries as messages, and the dead-letter stream's entries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from redis.typing import EncodableT, FieldT

from forze.contracts import Message
from forze.domain.errors import MalformedMessage
from forze.messaging import from_headers, to_headers

HEADER_PREFIX = "ce_"
DATA_FIELD = "data"
REASON_FIELD = "reason"
ATTEMPTS_FIELD = "attempts"

RawFields = Mapping[bytes, bytes]
EntryFields = dict[FieldT, EncodableT]


def encode_entry(message: Message) -> EntryFields:
    """The fields of the stream entry carrying ``message`` (``MalformedMessage`` if it cannot)."""
    fields: EntryFields = {}
    fields.update(to_headers(message, HEADER_PREFIX))
    fields[DATA_FIELD] = message.data
    return fields


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
