"""What adapter authors need from the kernel, in one place.

The ports an adapter implements (``EventStore`` is also on the top level), the envelopes they
carry, the parts a ``DepsModule`` is made of, the read-side views a runtime hands out, and the
CloudEvents header codec broker adapters share. An application needs only ``forze``'s top level.
"""

from forze.contracts import (
    AggregateRepositories,
    AppendResult,
    Cache,
    CheckpointStore,
    Counter,
    CutPage,
    Delivery,
    EventIds,
    ExpectedVersionArg,
    IdempotencyStore,
    ObjectStorage,
    SagaRunner,
    Snapshot,
    SnapshotStore,
    StoredData,
    category_of,
)
from forze.execution import (
    CHECKPOINTS,
    COMMAND_PORTS,
    SAGAS,
    SNAPSHOTS,
    EventStoreView,
    OperationKind,
    PortNeed,
    Provider,
    ReadModelView,
    ReadOnlyEventStore,
    Requirement,
    Route,
)
from forze.messaging import (
    from_headers,
    message_of,
    to_headers,
)

__all__ = [
    "CHECKPOINTS",
    "COMMAND_PORTS",
    "SAGAS",
    "SNAPSHOTS",
    "AggregateRepositories",
    "AppendResult",
    "Cache",
    "CheckpointStore",
    "Counter",
    "CutPage",
    "Delivery",
    "EventIds",
    "EventStoreView",
    "ExpectedVersionArg",
    "IdempotencyStore",
    "ObjectStorage",
    "OperationKind",
    "PortNeed",
    "Provider",
    "ReadModelView",
    "ReadOnlyEventStore",
    "Requirement",
    "Route",
    "SagaRunner",
    "Snapshot",
    "SnapshotStore",
    "StoredData",
    "category_of",
    "from_headers",
    "message_of",
    "to_headers",
]
