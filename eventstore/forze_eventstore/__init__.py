"""The write side of forze: event stores, codec, repository, snapshots, subscriptions, and
exporting the log to object storage and importing it, archiving cold streams."""

from forze_eventstore.archiving import (
    ArchiveCorrupted,
    ArchivedReads,
    ArchivePolicy,
    ArchiveReport,
    archive_cold_streams,
)
from forze_eventstore.codec import EventCodec
from forze_eventstore.export import (
    ExportCorrupted,
    ExportManifest,
    ImportReport,
    TransferProgress,
    export_events,
    import_events,
    read_manifest,
)
from forze_eventstore.limits import EventLimits
from forze_eventstore.local_storage import DirectoryObjectStorage
from forze_eventstore.memory import InMemoryEventStore
from forze_eventstore.module import (
    event_store_module,
    sqlite_events_module,
)
from forze_eventstore.object_snapshots import ObjectSnapshotStore
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
    "ArchiveCorrupted",
    "ArchivePolicy",
    "ArchiveReport",
    "ArchivedReads",
    "DirectoryObjectStorage",
    "EventCodec",
    "EventLimits",
    "EventSourcedRepositories",
    "EventSourcedRepository",
    "ExportCorrupted",
    "ExportManifest",
    "ImportReport",
    "InMemoryEventStore",
    "InMemorySnapshotStore",
    "ObjectSnapshotStore",
    "SQLiteDatabase",
    "SQLiteEventStore",
    "SQLiteSnapshotStore",
    "Synchronous",
    "TransferProgress",
    "archive_cold_streams",
    "catch_up_then_live",
    "event_store_module",
    "export_events",
    "import_events",
    "read_manifest",
    "sqlite_events_module",
]
