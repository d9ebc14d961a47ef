"""The size limits every event store enforces, so that what an append accepts can be read.

One :class:`EventLimits` value holds them all; every store takes it as its ``limits``
keyword (``DEFAULT_LIMITS`` when omitted). Appends are checked before anything is written
and refused with ``InvalidInputError`` naming the stream, the event and the limit:

- ``max_stream_id_length`` and ``max_event_type_length`` (characters) keep both names
  within every index that holds them (PostgreSQL's btree entries stop near 2.7 kB, and a
  character may take 4 bytes in UTF-8);
- ``max_event_bytes``: the JSON texts of one event's data and metadata together (the texts
  the stores write are ASCII, so characters are bytes);
- ``max_depth``: how deep containers (mappings and lists) nest in data or in metadata,
  well below what Python's and pydantic's decoders can read back (about 250).

Reads that page (subscriptions, and ``read_all``/``read_stream`` given ``max_bytes``) stop
adding events to a page once its events' texts reach ``page_bytes``; a page always holds at
least one event, so an event of up to ``max_event_bytes`` is always readable.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from forze.contracts import CutPage, NewEvent, RecordedEvent
from forze.domain.errors import InvalidInputError
from forze_eventstore._input import MAX_LIMIT, check_at_most

__all__ = [
    "DEFAULT_LIMITS",
    "CutPage",
    "EventLimits",
    "check_encoded",
    "check_max_bytes",
    "check_names",
    "nesting_depth",
    "within_budget",
]

MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class EventLimits:
    """The limits a store enforces on appends and on the pages it reads (see the module)."""

    max_event_bytes: int = 4 * MIB
    """Most bytes of one event's data and metadata JSON texts together (default 4 MiB)."""
    max_stream_id_length: int = 500
    """Most characters of a stream id (default 500: at most 2,000 UTF-8 bytes)."""
    max_event_type_length: int = 200
    """Most characters of an event type (default 200)."""
    max_depth: int = 100
    """Deepest nesting of mappings and lists in data or metadata (default 100)."""
    page_bytes: int = 8 * MIB
    """Bytes of event texts after which a read page takes no more events (default 8 MiB)."""

    def __post_init__(self) -> None:
        for name in (
            "max_event_bytes",
            "max_stream_id_length",
            "max_event_type_length",
            "max_depth",
            "page_bytes",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"EventLimits.{name} must be an int >= 1, got {value!r}")
            check_at_most(value, MAX_LIMIT, f"EventLimits.{name}")


DEFAULT_LIMITS = EventLimits()
"""The limits a store enforces when it is given none."""


def check_names(stream_id: str, events: Sequence[NewEvent], limits: EventLimits) -> None:
    """Refuse a stream id or an event type longer than ``limits`` allow."""
    if len(stream_id) > limits.max_stream_id_length:
        raise InvalidInputError(
            f"stream id {stream_id[:40]!r}... has {len(stream_id)} characters, more than"
            f" max_stream_id_length={limits.max_stream_id_length}"
        )
    longest = limits.max_event_type_length
    for index, event in enumerate(events):
        if len(event.event_type) > longest:
            raise InvalidInputError(
                f"event {index} ({event.event_id}) of {stream_id!r}: its type"
                f" {event.event_type[:40]!r}... has {len(event.event_type)} characters,"
                f" more than max_event_type_length={longest}"
            )


def check_encoded(
    stream_id: str, event: NewEvent, data: str, metadata: str, limits: EventLimits
) -> None:
    """Refuse an event whose JSON texts (``data``, ``metadata``) exceed the size or depth
    ``limits`` allow; cheap when they do not (the depth is only walked when the texts hold
    more brackets than the limit)."""
    size = len(data) + len(metadata)
    if size > limits.max_event_bytes:
        raise InvalidInputError(
            f"event {event.event_id} ({event.event_type!r}) of {stream_id!r} takes {size}"
            f" bytes of JSON, more than max_event_bytes={limits.max_event_bytes}"
        )
    deepest = limits.max_depth
    if size <= 2 * deepest:
        return  # each level of nesting takes two characters: a text this short is shallow
    for what, text, value in (("data", data, event.data), ("metadata", metadata, event.metadata)):
        if text.count("{") + text.count("[") <= deepest:
            continue  # every level of nesting opens a bracket: it cannot be deeper
        depth = nesting_depth(value, deepest + 1)
        if depth > deepest:
            raise InvalidInputError(
                f"event {event.event_id} ({event.event_type!r}) of {stream_id!r}: its"
                f" {what} nests more than max_depth={deepest} deep"
            )


def nesting_depth(value: object, stop: int) -> int:
    """How deep mappings and lists nest in ``value`` (a scalar: 0), counting no further
    than ``stop``; iterative, so any depth is safe to measure."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, Mapping):
            children: Collection[Any] = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest >= stop:
            return deepest
        pending.extend((child, depth + 1) for child in children)
    return deepest


def check_max_bytes(max_bytes: object) -> None:
    """Refuse a ``max_bytes`` read argument that is neither ``None`` nor an int from 1 to
    :data:`~forze_eventstore.rules.MAX_LIMIT` (PostgreSQL reads it as a ``bigint``)."""
    if max_bytes is None:
        return
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise InvalidInputError(f"max_bytes must be None or an int >= 1, got {max_bytes!r}")
    check_at_most(max_bytes, MAX_LIMIT, "max_bytes")


def within_budget(
    events: Sequence[RecordedEvent], sizes: Iterable[int], max_bytes: int | None
) -> Sequence[RecordedEvent]:
    """``events`` up to the first whose bytes (``sizes``, one per event) bring the page to
    ``max_bytes``: a :class:`CutPage` when that leaves some out (never fewer than one)."""
    if max_bytes is None:
        return events
    total = 0
    for count, size in enumerate(sizes, 1):
        total += size
        if total >= max_bytes:
            return CutPage(events[:count]) if count < len(events) else events
    return events
