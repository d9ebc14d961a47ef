"""What adapter authors need from the kernel, in one place.

The ports an adapter implements (``EventStore`` is also on the top level), the envelopes they
carry, the parts a ``DepsModule`` is made of, the read-side views a runtime hands out, the
CloudEvents header codec broker adapters share, the ``Telemetry`` port an observer
implements, and ``LoopTurns`` for adapters whose calls run on the loop's thread without
suspending. An application needs only ``forze``'s top level.
"""

from forze.contracts import (
    TRACE_CONTEXT_KEYS,
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
    Telemetry,
    category_of,
)
from forze.execution import (
    CHECKPOINTS,
    COMMAND_PORTS,
    SAGAS,
    SNAPSHOTS,
    TELEMETRY,
    EventStoreView,
    OperationKind,
    PortNeed,
    Provider,
    ReadModelView,
    ReadOnlyEventStore,
    Requirement,
    Route,
)
from forze.execution._loop_turns import LoopTurns
from forze.execution.repository_base import RepositoryBase
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
    "TELEMETRY",
    "TRACE_CONTEXT_KEYS",
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
    "LoopTurns",
    "ObjectStorage",
    "OperationKind",
    "PortNeed",
    "Provider",
    "ReadModelView",
    "ReadOnlyEventStore",
    "RepositoryBase",
    "Requirement",
    "Route",
    "SagaRunner",
    "Snapshot",
    "SnapshotStore",
    "StoredData",
    "Telemetry",
    "category_of",
    "from_headers",
    "message_of",
    "to_headers",
]
