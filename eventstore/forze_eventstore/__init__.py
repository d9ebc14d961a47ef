"""The write side of forze: event stores, codec, repository, snapshots, subscriptions."""

from forze_eventstore.codec import EventCodec
from forze_eventstore.limits import EventLimits
from forze_eventstore.memory import InMemoryEventStore
from forze_eventstore.module import (
    event_store_module,
    sqlite_events_module,
)
from forze_eventstore.repository import (
    EventSourcedRepositories,
    EventSourcedRepository,
)
from forze_eventstore.snapshots import (
    InMemorySnapshotStore,
    SQLiteSnapshotStore,
)
from forze_eventstore.sqlite import SQLiteEventStore
from forze_eventstore.sqlite_db import (
    SQLiteDatabase,
    Synchronous,
)
from forze_eventstore.subscriptions import catch_up_then_live

__all__ = [
    "EventCodec",
    "EventLimits",
    "EventSourcedRepositories",
    "EventSourcedRepository",
    "InMemoryEventStore",
    "InMemorySnapshotStore",
    "SQLiteDatabase",
    "SQLiteEventStore",
    "SQLiteSnapshotStore",
    "Synchronous",
    "catch_up_then_live",
    "event_store_module",
    "sqlite_events_module",
]
