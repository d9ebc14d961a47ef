"""How eventsourcing's records map onto forze events, and how forze errors map back."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.persistence import (
    DataError,
    IntegrityError,
    Notification,
    OperationalError,
    StoredEvent,
)

from forze.contracts import NewEvent, RecordedEvent
from forze.domain.errors import (
    ConcurrencyError,
    DuplicateEventIdError,
    EventStoreUnavailable,
    InvalidInputError,
)

__all__ = [
    "TRACKING_TYPE",
    "category_name",
    "new_event",
    "new_tracking",
    "notification",
    "stored_event",
    "stored_version",
    "stream_id",
    "tracked_id",
    "translated_errors",
]

TRACKING_TYPE = "eventsourcing.Tracking"
"""The event type of a tracking record."""

_NOT_IN_CATEGORY = re.compile(r"[^a-z0-9_]")


def category_name(app_name: str, purpose: str) -> str:
    """The forze category of an application's records of one purpose: lower-cased, every
    character other than ``a-z``, ``0-9`` and ``_`` replaced by ``_`` (so never a ``-``)."""
    base = _NOT_IN_CATEGORY.sub("_", app_name.lower()) or "stored"
    return f"{base}_{_NOT_IN_CATEGORY.sub('_', purpose.lower())}"


def stream_id(category: str, key: UUID | str) -> str:
    """The forze stream of an originator (or, for tracking, of an upstream application)."""
    return f"{category}-{key}"


def new_event(event: StoredEvent, event_id: UUID | None = None) -> NewEvent:
    """The forze event that records ``event`` (a random event id unless ``event_id``)."""
    id_type = "uuid" if isinstance(event.originator_id, UUID) else "str"
    return NewEvent(
        event_type=event.topic,
        data={"state": base64.b64encode(event.state).decode("ascii")},
        metadata={"originator_version": event.originator_version, "originator_id_type": id_type},
        event_id=event_id or uuid4(),
    )


def new_tracking(notification_id: int) -> NewEvent:
    """The forze event that records a tracking position."""
    return NewEvent(event_type=TRACKING_TYPE, data={"notification_id": notification_id})


def tracked_id(event: RecordedEvent) -> int:
    """The notification id a tracking event records."""
    return int(event.data["notification_id"])


def stored_version(event: RecordedEvent) -> int:
    """The eventsourcing originator version a forze event records."""
    return int(event.metadata["originator_version"])


def _fields(event: RecordedEvent) -> dict[str, Any]:
    key = event.stream_id.partition("-")[2]
    originator_id: UUID | str = (
        UUID(key) if event.metadata.get("originator_id_type") == "uuid" else key
    )
    return {
        "originator_id": originator_id,
        "originator_version": stored_version(event),
        "topic": event.event_type,
        "state": base64.b64decode(event.data["state"]),
    }


def stored_event(event: RecordedEvent) -> StoredEvent:
    """The eventsourcing record of a forze event."""
    return StoredEvent(**_fields(event))


def notification(event: RecordedEvent) -> Notification:
    """The eventsourcing notification of a forze event: its id is the global position."""
    return Notification(id=event.position, **_fields(event))


@contextmanager
def translated_errors() -> Iterator[None]:
    """Raise forze's store errors as eventsourcing's persistence errors."""
    try:
        yield
    except (ConcurrencyError, DuplicateEventIdError) as error:
        raise IntegrityError(str(error)) from error
    except InvalidInputError as error:
        raise DataError(str(error)) from error
    except EventStoreUnavailable as error:
        raise OperationalError(str(error)) from error
