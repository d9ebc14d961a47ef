"""PostgreSQL adapters (asyncpg): event store, read models, checkpoints, projections."""

from forze_postgres.database import PostgresDatabase
from forze_postgres.errors import translated

__all__ = ["PostgresDatabase", "translated"]
