"""Ports (``typing.Protocol``) and the event envelopes every adapter speaks."""

from forze.contracts.broker import Delivery, Message, Publisher, Subscriber
from forze.contracts.checkpoints import CheckpointStore
from forze.contracts.envelopes import (
    AppendResult,
    ExpectedVersion,
    ExpectedVersionArg,
    NewEvent,
    RecordedEvent,
    category_of,
)
from forze.contracts.event_ids import EventIds
from forze.contracts.event_store import CutPage, EventStore, StreamAppend
from forze.contracts.messaging import IdempotencyStore
from forze.contracts.read_models import (
    Filter,
    FilterOp,
    Page,
    Query,
    ReadModelReader,
    ReadModelSpec,
    ReadModelStore,
    ReadModelStores,
    SortKey,
)
from forze.contracts.repository import AggregateRepositories, AggregateRepository, UnitOfWork
from forze.contracts.sagas import SagaRunner
from forze.contracts.snapshots import Snapshot, SnapshotStore
from forze.contracts.storage import Cache, Counter, ObjectStorage
from forze.contracts.stored_data import StoredData
from forze.contracts.telemetry import TRACE_CONTEXT_KEYS, Telemetry

__all__ = [
    "TRACE_CONTEXT_KEYS",
    "AggregateRepositories",
    "AggregateRepository",
    "AppendResult",
    "Cache",
    "CheckpointStore",
    "Counter",
    "CutPage",
    "Delivery",
    "EventIds",
    "EventStore",
    "ExpectedVersion",
    "ExpectedVersionArg",
    "Filter",
    "FilterOp",
    "IdempotencyStore",
    "Message",
    "NewEvent",
    "ObjectStorage",
    "Page",
    "Publisher",
    "Query",
    "ReadModelReader",
    "ReadModelSpec",
    "ReadModelStore",
    "ReadModelStores",
    "RecordedEvent",
    "SagaRunner",
    "Snapshot",
    "SnapshotStore",
    "SortKey",
    "StoredData",
    "StreamAppend",
    "Subscriber",
    "Telemetry",
    "UnitOfWork",
    "category_of",
]
