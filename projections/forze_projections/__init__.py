"""The read side of forze: projections, catch-up over the feed, read-model and checkpoint stores."""

from forze_projections.catch_up import CatchUpProgress, catch_up
from forze_projections.memory import (
    InMemoryCheckpointStore,
    InMemoryReadModelStore,
    InMemoryReadModelStores,
)
from forze_projections.projection import Projection, ProjectionHandler

__all__ = [
    "CatchUpProgress",
    "InMemoryCheckpointStore",
    "InMemoryReadModelStore",
    "InMemoryReadModelStores",
    "Projection",
    "ProjectionHandler",
    "catch_up",
]
