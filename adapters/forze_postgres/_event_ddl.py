"""The event store's tables and functions, in the two tenancy layouts (see ``PostgresDatabase``).

Without a tenant column (one application or one tenant per schema) and with one (tenants
sharing the schema: ``tenant`` leads every key and index, and the feed function filters on
it). Positions are global in both: one schema, one position sequence, one watermark.
"""

from __future__ import annotations

from forze_postgres._event_sql import STREAM_LOCK_CLASS, WATERMARK

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
CREATE TABLE {schema}.forze_streams (
    tenant TEXT NOT NULL,
    stream_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (tenant, stream_id)
);
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


_APPEND_MANY = """
ALTER TABLE {schema}.forze_streams ADD COLUMN last_xid BIGINT NOT NULL DEFAULT 0;
CREATE FUNCTION {schema}.forze_append_many(
    lock_key bigint, in_streams text[], in_counts integer[], in_expected integer[],
    in_may_update boolean[], in_may_create boolean[], in_categories text[],
    in_event_streams integer[], in_event_ranks integer[], in_event_ids uuid[],
    in_types text[], in_data text[], in_metadata text[]TENANT_PARAMETER,
    OUT heads integer[], OUT base bigint
) LANGUAGE plpgsql VOLATILE AS $append$
DECLARE
    head integer;
    me bigint;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(lock_key);
    -- every stream's lock, in one order (no deadlock between batches), before the id
    PERFORM pg_advisory_xact_lock(STREAM_LOCK_CLASS, k.key)
    FROM (SELECT DISTINCT STREAM_KEY AS key FROM unnest(in_streams) AS u(stream_id)) k
    ORDER BY k.key;
    me := pg_current_xact_id()::text::bigint;
    heads := ARRAY[]::integer[];
    FOR i IN 1 .. cardinality(in_streams) LOOP
        head := NULL;
        IF in_may_update[i] THEN
            UPDATE {schema}.forze_streams s
            SET version = s.version + in_counts[i], last_xid = me
            WHERE TENANT_FILTER s.stream_id = in_streams[i]
              AND (in_expected[i] IS NULL OR s.version = in_expected[i]) AND s.last_xid <= me
            RETURNING s.version INTO head;
        END IF;
        IF head IS NULL AND in_may_create[i] THEN
            INSERT INTO {schema}.forze_streams AS s (TENANT_COLUMN stream_id, version, last_xid)
            VALUES (TENANT_VALUE in_streams[i], in_counts[i], me) ON CONFLICT DO NOTHING
            RETURNING s.version INTO head;
        END IF;
        IF head IS NULL THEN
            RAISE EXCEPTION 'stream % does not match its expected version', in_streams[i]
                USING ERRCODE = 'FZ001';
        END IF;
        heads := heads || head;
    END LOOP;
    SELECT COALESCE(max(e.position), (me << 20) - 1) INTO base FROM {schema}.forze_events e
    WHERE e.position >= me << 20 AND e.position < (me << 20) + 1048576;
    INSERT INTO {schema}.forze_events (position, TENANT_COLUMN stream_id, version, event_id,
                                      event_type, category, data, metadata)
    SELECT base + e.n, TENANT_VALUE in_streams[e.s], heads[e.s] - in_counts[e.s] + e.r,
           e.id, e.type, in_categories[e.s], e.data::jsonb, e.metadata::jsonb
    FROM unnest(in_event_streams, in_event_ranks, in_event_ids, in_types, in_data, in_metadata)
         WITH ORDINALITY AS e(s, r, id, type, data, metadata, n);
END
$append$;
"""
"""Several streams' appends in one statement and one transaction: each stream's version check
and bump in turn (a mismatch, or a stream last appended to by a later transaction, raises
SQLSTATE FZ001 and undoes everything), then one insert of every event, positions following
the batch's order. The step also gives each stream its ``last_xid`` (see ``_event_sql``)."""


def _append_many_function(tenant_column: bool) -> str:
    replacements = {
        "TENANT_PARAMETER": ", for_tenant text" if tenant_column else "",
        "TENANT_FILTER ": "s.tenant = for_tenant AND " if tenant_column else "",
        "TENANT_COLUMN ": "tenant, " if tenant_column else "",
        "TENANT_VALUE ": "for_tenant, " if tenant_column else "",
        "STREAM_LOCK_CLASS": STREAM_LOCK_CLASS.format(key="lock_key"),
        "STREAM_KEY": (
            "hashtext(for_tenant || '/' || u.stream_id)"
            if tenant_column
            else "hashtext(u.stream_id)"
        ),
    }
    sql = _APPEND_MANY
    for placeholder, text in replacements.items():
        sql = sql.replace(placeholder, text)
    return sql


def migrations(tenant_column: bool) -> tuple[str, ...]:
    """The event store's migration steps in one layout (``{schema}``: the quoted schema)."""
    tables = _TENANT_TABLES if tenant_column else _TABLES
    return (
        tables,
        _WATERMARK_FUNCTION + _read_all_function(tenant_column),
        _append_many_function(tenant_column),
    )
