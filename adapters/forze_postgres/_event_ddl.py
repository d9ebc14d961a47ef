"""The event store's tables and functions, in the two tenancy layouts (see ``PostgresDatabase``).

Without a tenant column (one application or one tenant per schema) and with one (tenants
sharing the schema: ``tenant`` leads every key and index, and the feed function filters on
it). Positions are global in both: one schema, one position sequence, one watermark.
"""

from __future__ import annotations

from forze_postgres._append_ddl import append_functions, linear_append_many
from forze_postgres._event_sql import WATERMARK
from forze_postgres._page_ddl import page_functions

__all__ = ["migrations"]

_TABLES = """
CREATE TABLE {schema}.forze_events (
    position BIGINT PRIMARY KEY,
    stream_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    event_id UUID NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    category TEXT NOT NULL,
    data JSONB NOT NULL,
    metadata JSONB NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (stream_id, version)
);
CREATE INDEX forze_events_by_type ON {schema}.forze_events (event_type, position);
CREATE INDEX forze_events_by_category ON {schema}.forze_events (category, position);
CREATE TABLE {schema}.forze_streams (
    stream_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL
);
"""

_TENANT_TABLES = """
CREATE TABLE {schema}.forze_events (
    position BIGINT PRIMARY KEY,
    tenant TEXT NOT NULL,
    stream_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    event_id UUID NOT NULL,
    event_type TEXT NOT NULL,
    category TEXT NOT NULL,
    data JSONB NOT NULL,
    metadata JSONB NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (tenant, event_id),
    UNIQUE (tenant, stream_id, version)
);
CREATE INDEX forze_events_by_tenant ON {schema}.forze_events (tenant, position);
CREATE INDEX forze_events_by_type ON {schema}.forze_events (tenant, event_type, position);
CREATE INDEX forze_events_by_category ON {schema}.forze_events (tenant, category, position);
"""

# The feed page in one round trip: the watermark, then (a later snapshot) the rows below it.
# A statement of a VOLATILE plpgsql function takes a new snapshot in READ COMMITTED, as a
# separate statement would. Each filter shape has its own statement so that one category or
# one type is an equality its index returns in position order; sorting and bitmap scans are
# off because with stale statistics (a fast-growing table) the planner would otherwise fetch
# and sort every row after ``after`` for each page.
_WATERMARK_FUNCTION = (
    """
CREATE FUNCTION {schema}.forze_watermark(lock_class oid, lock_object oid)
RETURNS bigint LANGUAGE sql VOLATILE AS $watermark$
"""
    + WATERMARK
    + """
$watermark$;
"""
)

_SELECT = """
        RETURN QUERY SELECT e.event_id, e.event_type, e.data::text, e.metadata::text,
               e.stream_id, e.version, e.position, e.recorded_at
        FROM {schema}.forze_events e
        WHERE TENANT_FILTER e.position > after AND e.position < below"""


def _read_all_function(tenant_column: bool) -> str:
    select = _SELECT.replace("TENANT_FILTER", "e.tenant = for_tenant AND" if tenant_column else "")
    tenant_parameter = ", for_tenant text" if tenant_column else ""
    return f"""
CREATE FUNCTION {{schema}}.forze_read_all(
    after bigint, lock_class oid, lock_object oid, types text[], categories text[],
    page bigint{tenant_parameter}
) RETURNS TABLE (
    event_id uuid, event_type text, data text, metadata text, stream_id text,
    version integer, "position" bigint, recorded_at timestamptz
) LANGUAGE plpgsql VOLATILE
SET enable_sort = off SET enable_bitmapscan = off
AS $read$
#variable_conflict use_column
DECLARE
    below bigint := {{schema}}.forze_watermark(lock_class, lock_object) << 20;
BEGIN
    IF types IS NULL AND categories IS NULL THEN{select}
        ORDER BY e.position LIMIT page;
    ELSIF types IS NULL AND cardinality(categories) = 1 THEN{select}
          AND e.category = categories[1]
        ORDER BY e.position LIMIT page;
    ELSIF categories IS NULL AND cardinality(types) = 1 THEN{select}
          AND e.event_type = types[1]
        ORDER BY e.position LIMIT page;
    ELSE{select}
          AND (types IS NULL OR e.event_type = ANY(types))
          AND (categories IS NULL OR e.category = ANY(categories))
        ORDER BY e.position LIMIT page;
    END IF;
END
$read$;
"""


_SEGMENTS = """
CREATE TABLE {schema}.forze_archived_segments (
    TENANT_COLUMNstream_id TEXT NOT NULL,
    first_version INTEGER NOT NULL,
    last_version INTEGER NOT NULL,
    first_position BIGINT NOT NULL,
    last_position BIGINT NOT NULL,
    object_key TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    archived_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (TENANT_KEYstream_id, first_version)
);
"""
"""Step 7: the segments of archived streams (see ``forze_postgres._archive``)."""


def _segments_table(tenant_column: bool) -> str:
    return _SEGMENTS.replace(
        "TENANT_COLUMN", "tenant TEXT NOT NULL,\n    " if tenant_column else ""
    ).replace("TENANT_KEY", "tenant, " if tenant_column else "")


def migrations(tenant_column: bool) -> tuple[str, ...]:
    """The event store's migration steps in one layout (``{schema}``: the quoted schema).

    Step 4 replaces the watermark function of step 2, which missed transactions that had
    their id but had not locked it yet (see ``forze_postgres._event_sql.WATERMARK_OF``).
    Step 5 adds the byte-bounded page reads (see ``forze_postgres._page_ddl``). Step 6
    replaces the watermark again: an id its snapshot lists without a lock no longer holds
    readers back once that transaction has ended (an unrelated one that ended between the
    snapshot and the read of the lock table hid a reader's own committed append from it).
    Step 7 adds the table of archived segments (``forze_eventstore.archiving``). Step 8
    replaces ``forze_append_many`` with one linear in its parts (see
    ``forze_postgres._append_ddl``).
    """
    tables = _TENANT_TABLES if tenant_column else _TABLES
    return (
        tables,
        _WATERMARK_FUNCTION + _read_all_function(tenant_column),
        append_functions(tenant_column),
        _WATERMARK_FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"),
        page_functions(tenant_column),
        _WATERMARK_FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"),
        _segments_table(tenant_column),
        linear_append_many(tenant_column),
    )
