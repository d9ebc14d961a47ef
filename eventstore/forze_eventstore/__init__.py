"""The write side of forze: event stores, codec, repository, snapshots, subscriptions."""

from forze_eventstore.memory import InMemoryEventStore
from forze_eventstore.snapshots import InMemorySnapshotStore, SQLiteSnapshotStore
from forze_eventstore.sqlite import SQLiteEventStore
from forze_eventstore.sqlite_db import SQLiteDatabase
from forze_eventstore.subscriptions import CommitSignal, catch_up_then_live

__all__ = [
    "CommitSignal",
    "InMemoryEventStore",
    "InMemorySnapshotStore",
    "SQLiteDatabase",
    "SQLiteEventStore",
    "SQLiteSnapshotStore",
    "catch_up_then_live",
]
