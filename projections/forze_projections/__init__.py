"""The read side of forze: projections, the projector, read-model and checkpoint stores."""

from forze_projections.backend import ProjectionBackend
from forze_projections.buffered import DocumentCache
from forze_projections.catalog import (
    CATALOG_NAME,
    EVENT_LINKS,
    STREAMS,
    EventLink,
    StreamEntry,
    catalog_projection,
)
from forze_projections.errors import (
    EventFailed,
    ProjectionBusy,
    ProjectionFailed,
    ProjectionFailure,
)
from forze_projections.inline import add_inline_projection
from forze_projections.keys import (
    PROJECTION_BACKEND,
    PROJECTOR,
)
from forze_projections.lag import (
    FeedLag,
    feed_lag,
    stuck_seconds,
)
from forze_projections.leases import LeaseLost
from forze_projections.memory_backend import InMemoryProjectionBackend
from forze_projections.module import (
    ProjectorOptions,
    projection_module,
)
from forze_projections.not_yet_live import NotYetLiveStore
from forze_projections.projection import (
    CommitHook,
    Projection,
    ProjectionHandler,
)
from forze_projections.projector import (
    STOP_ON_ERROR,
    ProgressCallback,
    Projector,
)
from forze_projections.relay import (
    SKIP_REFUSED,
    Relay,
    RelayFailed,
    RelayStatus,
    topic,
)
from forze_projections.sqlite_backend import SQLiteProjectionBackend
from forze_projections.sqlite_wiring import sqlite_module
from forze_projections.status import (
    FailurePolicy,
    ProjectionProgress,
    ProjectionState,
    ProjectionStatus,
)
from forze_projections.typed import (
    EventHandler,
    Handles,
    on,
)

__all__ = [
    "CATALOG_NAME",
    "EVENT_LINKS",
    "PROJECTION_BACKEND",
    "PROJECTOR",
    "SKIP_REFUSED",
    "STOP_ON_ERROR",
    "STREAMS",
    "CommitHook",
    "DocumentCache",
    "EventFailed",
    "EventHandler",
    "EventLink",
    "FailurePolicy",
    "FeedLag",
    "Handles",
    "InMemoryProjectionBackend",
    "LeaseLost",
    "NotYetLiveStore",
    "ProgressCallback",
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
    "ProjectorOptions",
    "Relay",
    "RelayFailed",
    "RelayStatus",
    "SQLiteProjectionBackend",
    "StreamEntry",
    "add_inline_projection",
    "catalog_projection",
    "feed_lag",
    "on",
    "projection_module",
    "sqlite_module",
    "stuck_seconds",
    "topic",
]
