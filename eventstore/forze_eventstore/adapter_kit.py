"""What event-store authors need: the rules every store keeps, in one place.

Input validation (``validate_append``, ``check_read_stream``...), size limits, the idempotent
re-send answer, the JSON form of stored data, remembered stream versions, subscription
signals, SQLite migrations and append hooks. The contract suite in
``forze_eventstore.testing`` checks a store keeps them. An application needs only
``forze_eventstore``'s top level.
"""

from forze_eventstore._archive_kit import (
    ArchivedSegment,
    StreamArchives,
    check_segment,
    not_next_segment,
    refuse_archived_gap,
)
from forze_eventstore._known_versions import KnownVersions
from forze_eventstore.codec import SCHEMA_VERSION_KEY
from forze_eventstore.limits import (
    DEFAULT_LIMITS,
    CutPage,
    check_encoded,
    check_max_bytes,
    check_names,
    nesting_depth,
    within_budget,
)
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
    check_snapshot,
    check_snapshot_stream_id,
)
from forze_eventstore.sqlite import AppendHook
from forze_eventstore.sqlite_db import Migration
from forze_eventstore.subscriptions import (
    CommitSignal,
    outage_delay,
    raise_if_cancelled,
    subscribe_to,
)
from forze_eventstore.unit_of_work import (
    EventSourcedUnitOfWork,
    UnitRepository,
)

__all__ = [
    "DEFAULT_LIMITS",
    "SCHEMA_VERSION_KEY",
    "AppendHook",
    "ArchivedSegment",
    "CommitSignal",
    "CutPage",
    "EventSourcedUnitOfWork",
    "KnownVersions",
    "Migration",
    "StoredId",
    "StreamArchives",
    "UnitRepository",
    "check_encoded",
    "check_expected_version",
    "check_max_bytes",
    "check_names",
    "check_read_all",
    "check_read_stream",
    "check_segment",
    "check_snapshot",
    "check_snapshot_stream_id",
    "dump_json",
    "idempotent_result",
    "nesting_depth",
    "not_next_segment",
    "outage_delay",
    "raise_if_cancelled",
    "refuse_archived_gap",
    "subscribe_to",
    "validate_append",
    "validate_batch",
    "within_budget",
]
