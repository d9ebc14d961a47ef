"""What projection-backend authors need, in one place.

Checkpoint, lease and read-model store parts, document and key checks, cursor encoding, the
JSON kinds a read model's fields are indexed by, identifier quoting, the undo log that makes a
failed unit of work leave nothing behind, and inline-projection registration. The contract
suites in ``forze_projections.testing`` check a backend keeps the rules.
An application needs only ``forze_projections``'s top level.
"""

from forze_projections.buffered import BufferedReadModelStores
from forze_projections.checkpoint_input import (
    check_checkpoint_name,
    check_checkpoint_position,
)
from forze_projections.inline import (
    InlineHook,
    register_inline,
)
from forze_projections.leases import (
    InMemoryLeases,
    Lease,
    ProjectionLeases,
    check_lease_terms,
    lease_lost,
)
from forze_projections.live_store import (
    LiveVersionStore,
    ServedVersions,
    ServingStores,
    WriterStores,
)
from forze_projections.memory import (
    InMemoryCheckpointStore,
    InMemoryReadModelStore,
    InMemoryReadModelStores,
)
from forze_projections.memory_backend import ReadModelOwners
from forze_projections.module import (
    InlineAdder,
    provide_projector,
)
from forze_projections.projector import default_owner
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
from forze_projections.sqlite_backend import table_of
from forze_projections.sqlite_checkpoints import SQLiteCheckpointStore
from forze_projections.sqlite_leases import SQLiteLeases
from forze_projections.sqlite_read_models import (
    SQLiteReadModelStore,
    SQLiteReadModelStores,
)
from forze_projections.undo import UndoLog

__all__ = [
    "MAX_KEY_LENGTH",
    "BufferedReadModelStores",
    "FieldValues",
    "InMemoryCheckpointStore",
    "InMemoryLeases",
    "InMemoryReadModelStore",
    "InMemoryReadModelStores",
    "InlineAdder",
    "InlineHook",
    "Lease",
    "LiveVersionStore",
    "ProjectionLeases",
    "ReadModelOwners",
    "SQLiteCheckpointStore",
    "SQLiteLeases",
    "SQLiteReadModelStore",
    "SQLiteReadModelStores",
    "ServedVersions",
    "ServingStores",
    "UndoLog",
    "WriterStores",
    "check_checkpoint_name",
    "check_checkpoint_position",
    "check_document",
    "check_key",
    "check_lease_terms",
    "decode_cursor",
    "default_owner",
    "document_json",
    "encode_cursor",
    "field_words",
    "json_kind",
    "jsonable",
    "lease_lost",
    "provide_projector",
    "quote_identifier",
    "quote_string",
    "register_inline",
    "schema_kinds",
    "search_words",
    "store_for_spec",
    "table_of",
]
