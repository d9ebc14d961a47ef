"""What authors of PostgreSQL-backed adapters need: error translation, lazily applied
migrations, the inline-projection append hook and table helpers.
An application needs only ``forze_postgres``'s top level.
"""

from forze_postgres.checkpoints import LazyMigration
from forze_postgres.errors import translated
from forze_postgres.event_store import PostgresAppendHook
from forze_postgres.projections import table_of
from forze_postgres.read_models import drop_table

__all__ = ["LazyMigration", "PostgresAppendHook", "drop_table", "table_of", "translated"]
