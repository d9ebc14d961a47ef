"""PostgreSQL adapters (asyncpg): event store, read models, checkpoints, projections."""

from forze_postgres.checkpoints import PostgresCheckpointStore
from forze_postgres.database import PostgresDatabase
from forze_postgres.event_store import PostgresEventStore
from forze_postgres.inline import add_postgres_inline_projection
from forze_postgres.leases import PostgresLeases
from forze_postgres.module import postgres_module
from forze_postgres.projections import PostgresProjectionBackend
from forze_postgres.read_models import (
    PostgresReadModelStore,
    PostgresReadModelStores,
)
from forze_postgres.snapshots import PostgresSnapshotStore

__all__ = [
    "PostgresCheckpointStore",
    "PostgresDatabase",
    "PostgresEventStore",
    "PostgresLeases",
    "PostgresProjectionBackend",
    "PostgresReadModelStore",
    "PostgresReadModelStores",
    "PostgresSnapshotStore",
    "add_postgres_inline_projection",
    "postgres_module",
]
