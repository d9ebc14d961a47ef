"""The write side of forze: event stores, codec, repository, snapshots, subscriptions."""

from forze_eventstore.codec import SCHEMA_VERSION_KEY, EventCodec
from forze_eventstore.limits import (
    DEFAULT_LIMITS,
    CutPage,
    EventLimits,
    check_encoded,
    check_max_bytes,
    check_names,
    nesting_depth,
    within_budget,
)
from forze_eventstore.memory import InMemoryEventStore
from forze_eventstore.module import event_store_module, sqlite_module
from forze_eventstore.repository import EventSourcedRepositories, EventSourcedRepository
from forze_eventstore.rules import (
    StoredId,
    check_expected_version,
    check_read_all,
    check_read_stream,
    dump_json,
    idempotent_result,
    validate_append,
    validate_batch,
)
from forze_eventstore.snapshots import (
    InMemorySnapshotStore,
    SQLiteSnapshotStore,
    check_snapshot,
    check_snapshot_stream_id,
)
from forze_eventstore.sqlite import AppendHook, SQLiteEventStore
from forze_eventstore.sqlite_db import Migration, SQLiteDatabase, Synchronous
from forze_eventstore.subscriptions import (
    CommitSignal,
    catch_up_then_live,
    outage_delay,
    subscribe_to,
)

__all__ = [
    "Migration",
    "Synchronous",
    "AppendHook",
    "SCHEMA_VERSION_KEY",
    "EventCodec",
    "EventSourcedRepositories",
    "EventSourcedRepository",
    "event_store_module",
    "sqlite_module",
    "CommitSignal",
    "InMemoryEventStore",
    "InMemorySnapshotStore",
    "SQLiteDatabase",
    "SQLiteEventStore",
    "SQLiteSnapshotStore",
    "check_snapshot",
    "check_snapshot_stream_id",
    "catch_up_then_live",
    "outage_delay",
    "subscribe_to",
    "StoredId",
    "check_expected_version",
    "check_read_all",
    "check_read_stream",
    "dump_json",
    "idempotent_result",
    "validate_append",
    "validate_batch",
    "DEFAULT_LIMITS",
    "CutPage",
    "EventLimits",
    "check_encoded",
    "check_max_bytes",
    "check_names",
    "nesting_depth",
    "within_budget",
]
