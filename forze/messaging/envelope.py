"""The one message envelope every broker adapter uses: CloudEvents 1.0, binary content mode.

An event becomes a :class:`~forze.contracts.Message` (:func:`message_of`): CloudEvents ``id``
(the event id), ``type``, ``source``, ``subject`` (the stream id), ``time`` (when it occurred),
``datacontenttype`` and extension attributes for the stream version, global position,
correlation and causation ids, tenant, actor and schema version; the body is the event data as
JSON. Each protocol carries the attributes as its headers under a prefix of its own
(:func:`to_headers`, :func:`from_headers`): ``cloudEvents:`` in AMQP application properties,
``ce_`` in SQS message attributes and Redis stream fields.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from forze.contracts import Message, RecordedEvent, StoredData
from forze.domain.errors import MalformedMessage

__all__ = [
    "EXTENSIONS",
    "SPEC_VERSION",
    "from_headers",
    "message_data",
    "message_of",
    "to_headers",
]

SPEC_VERSION = "1.0"
"""The CloudEvents version of the envelope."""

EXTENSIONS: Mapping[str, str] = {
    "streamversion": "version",
    "position": "position",
    "correlationid": "correlation_id",
    "causationid": "causation_id",
    "tenant": "tenant",
    "actor": "actor",
    "schemaversion": "schema_version",
}
"""Extension attribute → where its value comes from: the event's ``version`` and
``position``, or the metadata key of that name."""

_EXTENSION_NAME = re.compile(r"[a-z0-9]{1,20}")
_REQUIRED = ("id", "type", "source", "subject")
_CORE = {"specversion", "id", "type", "source", "subject", "time", "datacontenttype"}
_MAX_ATTRIBUTE = 4096
"""The longest attribute value accepted from a broker (characters)."""
_METADATA_EXTENSIONS = tuple(
    (attribute, key)
    for attribute, key in EXTENSIONS.items()
    if attribute not in {"streamversion", "position"}
)
_VALID_EXTENSIONS: set[str] = set(EXTENSIONS)
"""Extension names already checked (a bounded memo: names come from code, not from data)."""
_VALID_EXTENSIONS_KEPT = 256
_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def message_of(
    event: RecordedEvent,
    *,
    source: str,
    destination: str = "",
    ordering_key: str | None = None,
) -> Message:
    """The message carrying ``event`` (ordered by its stream unless ``ordering_key``).

    Called once per published event, so it does no more than it must: data a store kept as
    JSON (``StoredData``) is sent as stored, other data goes through one shared JSON
    encoder."""
    metadata = event.metadata
    extensions = {"streamversion": str(event.version), "position": str(event.position)}
    if metadata:
        for attribute, key in _METADATA_EXTENSIONS:
            value = metadata.get(key)
            if value is not None:
                extensions[attribute] = str(value)
    data = event.data
    return Message(  # positional, in field order: keyword parsing costs a third of the call
        str(event.event_id),  # id
        event.event_type,  # type
        source,
        event.stream_id,  # subject
        _occurred(metadata.get("occurred_at"), event.recorded_at),  # time
        (data.json if type(data) is StoredData else _encode_json(data)).encode(),  # data
        "application/json",  # datacontenttype
        extensions,
        destination,
        event.stream_id if ordering_key is None else ordering_key,
    )


def to_headers(message: Message, prefix: str) -> dict[str, str]:
    """Every CloudEvents attribute of ``message`` as text headers named ``prefix + name``."""
    headers = {
        prefix + "specversion": SPEC_VERSION,
        prefix + "id": message.id,
        prefix + "type": message.type,
        prefix + "source": message.source,
        prefix + "subject": message.subject,
        prefix + "time": _rfc3339(message.time),
        prefix + "datacontenttype": message.datacontenttype,
    }
    for name, value in message.extensions.items():
        if name not in _VALID_EXTENSIONS:
            if not _EXTENSION_NAME.fullmatch(name) or name in _CORE:
                raise MalformedMessage(f"message {message.id!r}: bad extension attribute {name!r}")
            if len(_VALID_EXTENSIONS) < _VALID_EXTENSIONS_KEPT:
                _VALID_EXTENSIONS.add(name)
        headers[prefix + name] = value
    return headers


def from_headers(
    headers: Mapping[str, Any],
    data: bytes,
    prefix: str,
    *,
    destination: str = "",
    ordering_key: str = "",
) -> Message:
    """The message whose attributes are the ``prefix``-ed ``headers`` and whose body is ``data``.

    Headers without the prefix are ignored; values may be ``str`` or UTF-8 ``bytes``. A missing
    or malformed attribute raises :class:`MalformedMessage` naming it (the consumer
    dead-letters such a message at once)."""
    found: dict[str, str] = {}
    for raw_name, raw_value in headers.items():
        name = str(raw_name)
        if not name.startswith(prefix):
            continue
        found[name[len(prefix) :]] = _text(name, raw_value)
    subject = found.get("subject", "")
    what = f"message {found.get('id', '(no id)')!r}"
    if found.get("specversion") != SPEC_VERSION:
        raise MalformedMessage(
            f"{what}: specversion must be {SPEC_VERSION!r}, got {found.get('specversion')!r}"
        )
    missing = [name for name in _REQUIRED if not found.get(name)]
    if missing:
        raise MalformedMessage(f"{what}: missing CloudEvents attribute(s) {', '.join(missing)}")
    extensions = {k: v for k, v in found.items() if k not in _CORE}
    bad = [name for name in extensions if not _EXTENSION_NAME.fullmatch(name)]
    if bad:
        raise MalformedMessage(f"{what}: bad extension attribute name(s) {', '.join(bad)}")
    return Message(
        id=found["id"],
        type=found["type"],
        source=found["source"],
        subject=subject,
        time=_parse_time(what, found.get("time")),
        data=bytes(data),
        datacontenttype=found.get("datacontenttype") or "application/json",
        extensions=extensions,
        destination=destination,
        ordering_key=ordering_key or subject,
    )


def message_data(message: Message) -> dict[str, Any]:
    """The body of ``message`` as a JSON object; :class:`MalformedMessage` if it is not one."""
    if message.datacontenttype.split(";")[0].strip() != "application/json":
        raise MalformedMessage(
            f"message {message.id!r}: data is {message.datacontenttype!r}, not application/json"
        )
    try:
        data = json.loads(message.data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MalformedMessage(f"message {message.id!r}: data is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise MalformedMessage(f"message {message.id!r}: data is not a JSON object")
    return data


def _text(name: str, value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        try:
            value = bytes(value).decode()
        except UnicodeDecodeError:
            raise MalformedMessage(f"header {name!r} is not UTF-8 text") from None
    if not isinstance(value, str | int):
        raise MalformedMessage(f"header {name!r} is not text: {type(value).__name__}")
    text = str(value)
    if len(text) > _MAX_ATTRIBUTE or "\x00" in text:
        raise MalformedMessage(f"header {name!r} is too long or holds NUL")
    return text


def _occurred(value: Any, recorded_at: datetime) -> datetime:
    if isinstance(value, str):
        try:
            occurred = datetime.fromisoformat(value)
        except ValueError:
            return recorded_at
        return occurred if occurred.tzinfo is not None else occurred.replace(tzinfo=UTC)
    return recorded_at


def _rfc3339(moment: datetime) -> str:
    if moment.tzinfo is not UTC:
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def _parse_time(what: str, value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise MalformedMessage(f"{what}: time {value!r} is not an RFC 3339 timestamp") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
