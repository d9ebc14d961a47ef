"""The envelope in SQS message attributes and body.

SQS allows 10 message attributes per message, non-empty values, and only XML-safe
characters. The CloudEvents attributes (``to_headers(message, "ce_")``) are carried one
attribute each when at most :data:`MAX_SEPARATE` of them are non-empty and SQS-safe; otherwise
all of them go, as one JSON object of the same ``ce_`` headers, in the single string attribute
``ce_envelope``. One attribute is always left free for the dead-letter reason. The body is the
message data as UTF-8 text; data that is not valid UTF-8, is empty or holds characters SQS does
not accept is refused (``MessageRefused``) rather than silently re-encoded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from forze.contracts import Message
from forze.domain.errors import MalformedMessage, MessageRefused
from forze.messaging import from_headers, to_headers

PREFIX = "ce_"
"""The prefix of the CloudEvents attributes in SQS message attributes."""

ENVELOPE = "ce_envelope"
"""The one attribute holding every ``ce_`` header as JSON when they do not fit separately."""

REASON = "forze_dead_letter_reason"
"""The attribute of a dead-lettered copy holding why it was given up."""

MAX_SEPARATE = 9
"""The most CloudEvents attributes sent separately (SQS allows 10; one is kept for the reason)."""

_UNSAFE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def message_attributes(message: Message) -> dict[str, dict[str, str]]:
    """The SQS message attributes carrying ``message``'s CloudEvents attributes."""
    headers = to_headers(message, PREFIX)
    separate = len(headers) <= MAX_SEPARATE and all(
        value and not _UNSAFE.search(value) for value in headers.values()
    )
    if not separate:
        headers = {ENVELOPE: json.dumps(headers, separators=(",", ":"))}
    return {name: {"DataType": "String", "StringValue": value} for name, value in headers.items()}


def message_body(message: Message) -> str:
    """``message.data`` as SQS body text; ``MessageRefused`` if SQS cannot carry it."""
    try:
        body = message.data.decode("utf-8")
    except UnicodeDecodeError:
        raise MessageRefused(message.id, "SQS bodies are text; the data is not UTF-8") from None
    if not body:
        raise MessageRefused(message.id, "SQS does not accept an empty body")
    if _UNSAFE.search(body):
        raise MessageRefused(message.id, "the data holds characters SQS does not accept")
    return body


def encoded_size(body: str, attributes: Mapping[str, Mapping[str, str]]) -> int:
    """The size SQS counts against its limit: body, attribute names, types and values."""
    size = len(body.encode())
    for name, value in attributes.items():
        size += len(name.encode()) + len(value["DataType"].encode())
        size += len(value.get("StringValue", "").encode())
    return size


def headers_of(attributes: Mapping[str, Any]) -> dict[str, str]:
    """The ``ce_`` headers of a received message's attributes (``ce_envelope`` unpacked)."""
    headers: dict[str, str] = {}
    for name, value in attributes.items():
        if isinstance(value, Mapping) and "StringValue" in value:
            headers[str(name)] = str(value["StringValue"])
    packed = headers.pop(ENVELOPE, None)
    if packed is not None:
        try:
            unpacked = json.loads(packed)
        except json.JSONDecodeError as error:
            raise MalformedMessage(f"attribute {ENVELOPE!r} is not JSON: {error}") from None
        if not isinstance(unpacked, dict):
            raise MalformedMessage(f"attribute {ENVELOPE!r} is not a JSON object")
        headers.update({str(k): v for k, v in unpacked.items()})
    return headers


def received_message(raw: Mapping[str, Any], queue: str) -> Message:
    """The message of a ReceiveMessage entry; ``MalformedMessage`` if it is not an envelope."""
    headers = headers_of(raw.get("MessageAttributes") or {})
    group = str((raw.get("Attributes") or {}).get("MessageGroupId", ""))
    body = str(raw.get("Body", "")).encode()
    return from_headers(headers, body, PREFIX, destination=queue, ordering_key=group)
