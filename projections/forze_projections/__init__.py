"""The read side of forze: projections, the projector, read-model and checkpoint stores."""

from forze_projections.backend import ProjectionBackend
from forze_projections.buffered import BufferedReadModelStores, DocumentCache
from forze_projections.checkpoint_input import check_checkpoint_name, check_checkpoint_position
from forze_projections.errors import ProjectionFailed, ProjectionFailure
from forze_projections.inline import InlineHook, add_inline_projection, register_inline
from forze_projections.keys import PROJECTION_BACKEND
from forze_projections.memory import (
    InMemoryCheckpointStore,
    InMemoryReadModelStore,
    InMemoryReadModelStores,
)
from forze_projections.memory_backend import InMemoryProjectionBackend, ReadModelOwners
from forze_projections.module import projection_module
from forze_projections.not_yet_live import NotYetLiveStore
from forze_projections.projection import Projection, ProjectionHandler
from forze_projections.projector import STOP_ON_ERROR, ProgressCallback, Projector
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
from forze_projections.sqlite_backend import SQLiteProjectionBackend, table_of
from forze_projections.sqlite_checkpoints import SQLiteCheckpointStore
from forze_projections.sqlite_read_models import SQLiteReadModelStore, SQLiteReadModelStores
from forze_projections.status import (
    FailurePolicy,
    ProjectionProgress,
    ProjectionState,
    ProjectionStatus,
)
from forze_projections.undo import UndoLog

__all__ = [
    "check_checkpoint_name",
    "check_checkpoint_position",
    "PROJECTION_BACKEND",
    "STOP_ON_ERROR",
    "FailurePolicy",
    "InMemoryCheckpointStore",
    "InMemoryProjectionBackend",
    "NotYetLiveStore",
    "InMemoryReadModelStore",
    "InMemoryReadModelStores",
    "ProgressCallback",
    "Projection",
    "ProjectionBackend",
    "ProjectionFailed",
    "ProjectionFailure",
    "ProjectionHandler",
    "ProjectionProgress",
    "ProjectionState",
    "ProjectionStatus",
    "Projector",
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
