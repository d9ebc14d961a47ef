"""Event envelopes: what is appended (``NewEvent``) and what is read (``RecordedEvent``)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, TypeAlias
from uuid import UUID, uuid4

__all__ = [
    "AppendResult",
    "ExpectedVersion",
    "ExpectedVersionArg",
    "NewEvent",
    "RecordedEvent",
    "category_of",
]


class ExpectedVersion(enum.Enum):
    """The symbolic forms of the optimistic-concurrency check of an append.

    An append also accepts an ``int``: the exact version the stream must be at (``0`` means the
    stream must not exist yet, the same as ``NO_STREAM``).
    """

    ANY = "any"
    """No check: append whatever the stream's version."""
    NO_STREAM = "no_stream"
    """The stream must not exist yet."""
    STREAM_EXISTS = "stream_exists"
    """The stream must already hold at least one event."""


ExpectedVersionArg: TypeAlias = ExpectedVersion | int
"""What ``append`` accepts as ``expected_version``."""


def category_of(stream_id: str) -> str:
    """The category of a stream id: the part before the first ``-`` (the whole id if none)."""
    return stream_id.partition("-")[0]


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append.

    ``event_id`` identifies the event forever: re-appending the same id at the same place is a
    no-op (idempotent append), so callers that retry should make it deterministic. ``metadata``
    carries correlation_id, causation_id, tenant, actor, schema_version, occurred_at and any
    free-form extras; ``data`` and ``metadata`` must be JSON-able.
    """

    event_type: str
    data: Mapping[str, Any]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    event_id: UUID = field(default_factory=uuid4)


class RecordedEvent(NamedTuple):
    """An event as stored: the appended fields plus where and when it was recorded.

    ``version`` is 1-based within the stream; ``position`` is the 1-based global order.
    Immutable; a named tuple because stores build millions of them when replaying the feed
    (read fields by name; ``_replace`` makes a changed copy).
    """

    event_id: UUID
    event_type: str
    data: Mapping[str, Any]
    metadata: Mapping[str, Any]
    stream_id: str
    version: int
    position: int
    recorded_at: datetime

    @property
    def category(self) -> str:
        """The stream's category (the part of ``stream_id`` before the first ``-``)."""
        return category_of(self.stream_id)


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append stored: the stream's version and the global position of its last event."""

    stream_id: str
    version: int
    position: int
