"""The read side of forze: projections, the projector, read-model and checkpoint stores."""

from forze_projections.backend import ProjectionBackend
from forze_projections.buffered import BufferedReadModelStores, DocumentCache
from forze_projections.checkpoint_input import check_checkpoint_name, check_checkpoint_position
from forze_projections.errors import (
    EventFailed,
    ProjectionBusy,
    ProjectionFailed,
    ProjectionFailure,
)
from forze_projections.inline import InlineHook, add_inline_projection, register_inline
from forze_projections.keys import PROJECTION_BACKEND
from forze_projections.lag import FeedLag, feed_lag, stuck_seconds
from forze_projections.leases import (
    InMemoryLeases,
    Lease,
    LeaseLost,
    ProjectionLeases,
    check_lease_terms,
    lease_lost,
)
from forze_projections.memory import (
    InMemoryCheckpointStore,
    InMemoryReadModelStore,
    InMemoryReadModelStores,
)
from forze_projections.memory_backend import InMemoryProjectionBackend, ReadModelOwners
from forze_projections.module import projection_module
from forze_projections.not_yet_live import NotYetLiveStore
from forze_projections.projection import CommitHook, Projection, ProjectionHandler
from forze_projections.projector import STOP_ON_ERROR, ProgressCallback, Projector, default_owner
from forze_projections.queries import (
    MAX_KEY_LENGTH,
    FieldValues,
    check_document,
    check_key,
    decode_cursor,
    document_json,
    encode_cursor,
    field_words,
    json_kind,
    jsonable,
    quote_identifier,
    quote_string,
    schema_kinds,
    search_words,
    store_for_spec,
)
from forze_projections.relay import SKIP_REFUSED, Relay, RelayFailed, RelayStatus, topic
from forze_projections.sqlite_backend import SQLiteProjectionBackend, table_of
from forze_projections.sqlite_checkpoints import SQLiteCheckpointStore
from forze_projections.sqlite_leases import SQLiteLeases
from forze_projections.sqlite_read_models import SQLiteReadModelStore, SQLiteReadModelStores
from forze_projections.status import (
    FailurePolicy,
    ProjectionProgress,
    ProjectionState,
    ProjectionStatus,
)
from forze_projections.typed import EventHandler, Handles, on
from forze_projections.undo import UndoLog

__all__ = [
    "FeedLag",
    "feed_lag",
    "stuck_seconds",
    "EventFailed",
    "Relay",
    "RelayFailed",
    "RelayStatus",
    "SKIP_REFUSED",
    "topic",
    "check_checkpoint_name",
    "check_checkpoint_position",
    "PROJECTION_BACKEND",
    "STOP_ON_ERROR",
    "FailurePolicy",
    "InMemoryCheckpointStore",
    "InMemoryProjectionBackend",
    "InMemoryLeases",
    "Lease",
    "LeaseLost",
    "ProjectionLeases",
    "SQLiteLeases",
    "check_lease_terms",
    "default_owner",
    "lease_lost",
    "NotYetLiveStore",
    "InMemoryReadModelStore",
    "InMemoryReadModelStores",
    "ProgressCallback",
    "EventHandler",
    "Handles",
    "CommitHook",
    "Projection",
    "ProjectionBackend",
    "ProjectionBusy",
    "ProjectionFailed",
    "ProjectionFailure",
    "ProjectionHandler",
    "ProjectionProgress",
    "ProjectionState",
    "ProjectionStatus",
    "Projector",
    "on",
    "ReadModelOwners",
    "UndoLog",
    "SQLiteCheckpointStore",
    "SQLiteProjectionBackend",
    "SQLiteReadModelStore",
    "SQLiteReadModelStores",
    "add_inline_projection",
    "InlineHook",
    "register_inline",
    "table_of",
    "projection_module",
    "BufferedReadModelStores",
    "DocumentCache",
    "FieldValues",
    "MAX_KEY_LENGTH",
    "check_document",
    "check_key",
    "decode_cursor",
    "document_json",
    "encode_cursor",
    "field_words",
    "json_kind",
    "jsonable",
    "quote_identifier",
    "quote_string",
    "schema_kinds",
    "search_words",
    "store_for_spec",
]
