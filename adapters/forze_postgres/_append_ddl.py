"""The event store's append functions (migration steps 3 and 8), in the two tenancy layouts.

Both take the schema's feed lock (shared) and each stream's lock (exclusive) before anything
gives the transaction an id (see ``forze_postgres._event_sql``), then read each stream's last
event: its version is the stream's version, and its position tells whether a transaction with
a later id appended to the stream meanwhile (the caller's transaction got its id first), in
which case nothing is stored. Being plpgsql, each statement after the locks sees what the
stream's previous appender committed while this one waited. The step drops the streams table
of the first layout: a stream's version is its last event's.
"""

from __future__ import annotations

from forze_postgres._event_sql import LISTENERS_LOCK, STREAM_LOCK_CLASS

__all__ = ["append_functions", "linear_append_many"]

_APPEND = """
CREATE FUNCTION {schema}.FUNCTION_NAME(
    in_stream text, in_count integer, in_expected integer, in_may_update boolean,
    in_may_create boolean, EVENT_PARAMETERS,
    in_category text, lock_key bigint, in_fresh boolean, in_notify text TENANT_PARAMETER,
    OUT out_version integer, OUT out_position bigint
) LANGUAGE plpgsql VOLATILE AS $append$
DECLARE
    last_version integer;
    last_position bigint;
    low bigint;
    base bigint;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(lock_key),
            pg_advisory_xact_lock(STREAM_LOCK_CLASS, STREAM_KEY(in_stream));
    SELECT e.version, e.position INTO last_version, last_position
    FROM {schema}.forze_events e WHERE TENANT_FILTER e.stream_id = in_stream
    ORDER BY e.version DESC LIMIT 1;
    IF last_version IS NULL THEN
        IF NOT in_may_create THEN
            RETURN;  -- NULLs: the stream does not match the expectation
        END IF;
        last_version := 0;
    ELSIF NOT in_may_update OR (in_expected IS NOT NULL AND last_version <> in_expected) THEN
        RETURN;
    END IF;
    low := pg_current_xact_id()::text::bigint << 20;
    IF last_position >= low + 1048576 THEN
        RETURN;  -- overtaken by a transaction with a later id
    END IF;
    IF in_fresh THEN
        base := low - 1;  -- a transaction of this call alone: its block is empty
    ELSE
        SELECT COALESCE(max(e.position), low - 1) INTO base FROM {schema}.forze_events e
        WHERE e.position >= low AND e.position < low + 1048576;
    END IF;
    INSERT INTO {schema}.forze_events (position, TENANT_COLUMN stream_id, version, event_id,
                                      event_type, category, data, metadata)
    EVENT_ROWS;
    IF in_notify IS NOT NULL AND NOT pg_try_advisory_xact_lock(LISTENERS_LOCK) THEN
        PERFORM pg_notify(in_notify, '');  -- someone listens; sent by this commit
    END IF;
    out_version := last_version + in_count;
    out_position := base + in_count;
END
$append$;
"""
"""One stream's append: ``(NULL, NULL)`` when the stream does not match the expectation or
was overtaken, else the stream's new version and the last event's position. ``in_fresh``: the
call runs in a transaction of its own (no earlier events in its block); ``in_notify``: a
channel to notify once something is stored (see ``forze_postgres._wakeups``). Made twice: with the
events as arrays, and, for the common append of one event, as plain values (encoding and
unnesting arrays costs about a tenth of a one-event append)."""

_ARRAYS = {
    "FUNCTION_NAME": "forze_append",
    "EVENT_PARAMETERS": "in_ids uuid[], in_types text[], in_data text[], in_metadata text[]",
    "EVENT_ROWS": """SELECT base + e.n, TENANT_VALUE in_stream, last_version + e.n, e.id, e.type,
           in_category, e.data::jsonb, e.metadata::jsonb
    FROM unnest(in_ids, in_types, in_data, in_metadata)
         WITH ORDINALITY AS e(id, type, data, metadata, n)""",
}
_ONE = {
    "FUNCTION_NAME": "forze_append_one",
    "EVENT_PARAMETERS": "in_id uuid, in_type text, in_data text, in_metadata text",
    "EVENT_ROWS": """VALUES (base + 1, TENANT_VALUE in_stream, last_version + 1, in_id, in_type,
            in_category, in_data::jsonb, in_metadata::jsonb)""",
}


def _in_layout(sql: str, tenant_column: bool) -> str:
    replacements = {
        " TENANT_PARAMETER": ", for_tenant text" if tenant_column else "",
        "TENANT_FILTER ": "e.tenant = for_tenant AND " if tenant_column else "",
        "TENANT_COLUMN ": "tenant, " if tenant_column else "",
        "TENANT_VALUE ": "for_tenant, " if tenant_column else "",
        "STREAM_LOCK_CLASS": STREAM_LOCK_CLASS.format(key="lock_key"),
        "LISTENERS_LOCK": LISTENERS_LOCK.format(key="lock_key"),
        "STREAM_KEY(": "hashtext(for_tenant || '/' || " if tenant_column else "hashtext(",
    }
    for placeholder, text in replacements.items():
        sql = sql.replace(placeholder, text)
    return sql


def append_functions(tenant_column: bool) -> str:
    """Migration step 3 in one layout (``{schema}``: the quoted schema)."""
    sql = "DROP TABLE IF EXISTS {schema}.forze_streams;"
    for shape in (_ARRAYS, _ONE):
        function = _APPEND
        for placeholder, text in shape.items():
            function = function.replace(placeholder, text)
        sql += function
    sql += _APPEND_MANY
    return _in_layout(sql, tenant_column)


_APPEND_MANY = """
CREATE FUNCTION {schema}.forze_append_many(
    lock_key bigint, in_streams text[], in_counts integer[], in_expected integer[],
    in_may_update boolean[], in_may_create boolean[], in_categories text[],
    in_event_streams integer[], in_event_ranks integer[], in_event_ids uuid[],
    in_types text[], in_data text[], in_metadata text[] TENANT_PARAMETER,
    OUT heads integer[], OUT base bigint
) LANGUAGE plpgsql VOLATILE AS $append$
DECLARE
    streams text[] := in_streams;  -- a variable: read by index in constant time
    previous integer[];
    last_version integer;
    last_position bigint;
    low bigint;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(lock_key);
    -- every stream's lock, in one order (no deadlock between batches), before the id
    PERFORM pg_advisory_xact_lock(STREAM_LOCK_CLASS, k.key)
    FROM (SELECT DISTINCT STREAM_KEY(u.stream_id) AS key FROM unnest(in_streams) AS u(stream_id)) k
    ORDER BY k.key;
    low := pg_current_xact_id()::text::bigint << 20;
    -- each part's previous part of the same stream in this batch (NULL for a stream's first)
    SELECT array_agg(p.before ORDER BY p.n) INTO previous
    FROM (SELECT u.n, lag(u.n) OVER (PARTITION BY u.stream_id ORDER BY u.n) AS before
          FROM unnest(in_streams) WITH ORDINALITY AS u(stream_id, n)) p;
    heads := array_fill(0, ARRAY[cardinality(in_streams)]);
    FOR i IN 1 .. cardinality(in_streams) LOOP
        IF previous[i] IS NOT NULL THEN
            last_version := heads[previous[i]];  -- this batch's own part
            last_position := NULL;
        ELSE
            last_version := NULL;
            SELECT e.version, e.position INTO last_version, last_position
            FROM {schema}.forze_events e WHERE TENANT_FILTER e.stream_id = streams[i]
            ORDER BY e.version DESC LIMIT 1;
        END IF;
        IF (last_version IS NULL AND NOT in_may_create[i])
           OR (last_version IS NOT NULL AND (NOT in_may_update[i]
               OR (in_expected[i] IS NOT NULL AND last_version <> in_expected[i])))
           OR last_position >= low + 1048576 THEN
            RAISE EXCEPTION 'stream % does not match its expected version', streams[i]
                USING ERRCODE = 'FZ001';
        END IF;
        heads[i] := COALESCE(last_version, 0) + in_counts[i];
    END LOOP;
    SELECT COALESCE(max(e.position), low - 1) INTO base FROM {schema}.forze_events e
    WHERE e.position >= low AND e.position < low + 1048576;
    INSERT INTO {schema}.forze_events (position, TENANT_COLUMN stream_id, version, event_id,
                                      event_type, category, data, metadata)
    SELECT base + e.n, TENANT_VALUE p.stream_id, p.head - p.count + e.r,
           e.id, e.type, p.category, e.data::jsonb, e.metadata::jsonb
    FROM unnest(in_event_streams, in_event_ranks, in_event_ids, in_types, in_data, in_metadata)
         WITH ORDINALITY AS e(s, r, id, type, data, metadata, n)
    JOIN unnest(in_streams, heads, in_counts, in_categories)
         WITH ORDINALITY AS p(stream_id, head, count, category, i) ON p.i = e.s;
END
$append$;
"""
"""Several streams' appends in one statement and one transaction: each part's check in turn (a
mismatch, or a stream overtaken, raises SQLSTATE FZ001 and undoes everything), then one insert
of every event, positions following the batch's order. Linear in the parts: a part's earlier
part of the same stream comes from one window query, and the insert joins the parts by
ordinality instead of reading arrays by index (each such read walks the array). Step 3 made an
earlier version that scanned the earlier parts for each part: a batch of 5,000 single-event
parts took 2.5 times as long per event as one of 500. Step 8 replaces it with this one."""


def linear_append_many(tenant_column: bool) -> str:
    """Migration step 8 in one layout (``{schema}``: the quoted schema): step 3's
    ``forze_append_many`` replaced by today's."""
    replaced = _APPEND_MANY.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
    return _in_layout(replaced, tenant_column)
