"""eventsourcing's recorders, each a synchronous front of a :class:`Records` on a bridge."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    Notification,
    ProcessRecorder,
    StoredEvent,
    Subscription,
    Tracking,
    TrackingRecorder,
)

from forze_eventsourcing._bridge import LoopBridge
from forze_eventsourcing._core import Records

__all__ = [
    "ForzeAggregateRecorder",
    "ForzeApplicationRecorder",
    "ForzeProcessRecorder",
    "ForzeTrackingRecorder",
]


class _ForzeRecorder:
    """What every forze recorder holds: the factory's bridge and its view of the store."""

    def __init__(self, bridge: LoopBridge, category: str, tracking_category: str) -> None:
        self.bridge = bridge
        self.records = Records(bridge.store, category, tracking_category)

    @property
    def category(self) -> str:
        """The forze category of this recorder's events."""
        return self.records.category


class ForzeAggregateRecorder(_ForzeRecorder, AggregateRecorder):
    """Records an originator's events as the forze stream ``{category}-{originator_id}``."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Append the events atomically (``IntegrityError`` on a version not above the
        originator's last one); returns ``None``."""
        self.bridge.run(self.records.insert(stored_events, None))
        return None

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """The originator's events with versions in ``(gt, lte]``."""
        return self.bridge.run(self.records.select_events(originator_id, gt, lte, desc, limit))


class ForzeApplicationRecorder(ForzeAggregateRecorder, ApplicationRecorder):
    """An aggregate recorder whose notification ids are the events' forze positions."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Append the events atomically; returns their notification ids (positions)."""
        return self.bridge.run(self.records.insert(stored_events, None))

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """Notifications of this recorder's category from ``start`` to ``stop``."""
        return self.bridge.run(
            self.records.select_notifications(start, limit, stop, topics, inclusive_of_start)
        )

    def max_notification_id(self) -> int | None:
        """The highest notification id of this recorder's category, or ``None``."""
        return self.bridge.run(self.records.max_notification_id())

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        """Notifications after ``gt``, then new ones as they are recorded."""
        from forze_eventsourcing._subscription import ForzeSubscription

        return ForzeSubscription(self, gt=gt, topics=topics)


class ForzeTrackingRecorder(_ForzeRecorder, TrackingRecorder):
    """Records tracking positions as events of the stream
    ``{tracking_category}-{application_name}``."""

    def insert_tracking(self, tracking: Tracking) -> None:
        """Record ``tracking`` (``IntegrityError`` unless above the last one recorded)."""
        self.bridge.run(self.records.insert([], tracking))

    def max_tracking_id(self, application_name: str) -> int | None:
        """The last notification id tracked for ``application_name``, or ``None``."""
        return self.bridge.run(self.records.max_tracking_id(application_name))


class ForzeProcessRecorder(ForzeTrackingRecorder, ForzeApplicationRecorder, ProcessRecorder):
    """An application recorder that also records tracking, atomically with the events."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Append the events and the ``tracking`` keyword's record in one atomic
        ``append_many``; returns the events' notification ids (positions)."""
        tracking: Tracking | None = kwargs.get("tracking")
        return self.bridge.run(self.records.insert(stored_events, tracking))
