"""The event store's byte-bounded page reads (migration step 5), in both tenancy layouts.

``forze_read_page`` is ``forze_read_all`` (the same watermark, filters and index use) that
stops once the page's data and metadata texts reach ``budget`` characters (always after at
least one event); ``forze_read_stream_page`` does the same for one stream's events in version
order. Each row is turned into text only when it is returned, so a page of large events costs
neither the server nor the client more than the budget (and one event).
"""

from __future__ import annotations

__all__ = ["page_functions"]

_COLUMNS = """
RETURNS TABLE (
    event_id uuid, event_type text, data text, metadata text, stream_id text,
    version integer, "position" bigint, recorded_at timestamptz
)"""

_LOOP = """
        FOR r IN SELECT e.event_id AS i, e.event_type AS t, e.data AS d, e.metadata AS m,
                        e.stream_id AS s, e.version AS v, e.position AS p, e.recorded_at AS a
        FROM {schema}.forze_events e
        WHERE TENANT_FILTER CONDITION
        ORDER BY ORDERING LIMIT page LOOP
            event_id := r.i; event_type := r.t; data := r.d::text; metadata := r.m::text;
            stream_id := r.s; version := r.v; "position" := r.p; recorded_at := r.a;
            RETURN NEXT;
            taken := taken + char_length(data) + char_length(metadata);
            EXIT WHEN taken >= budget;
        END LOOP;"""


def _loop(tenant_column: bool, condition: str, ordering: str) -> str:
    return (
        _LOOP.replace("TENANT_FILTER", "e.tenant = for_tenant AND" if tenant_column else "")
        .replace("CONDITION", condition)
        .replace("ORDERING", ordering)
    )


def page_functions(tenant_column: bool) -> str:
    """Step 5: ``forze_read_page`` and ``forze_read_stream_page`` (``{schema}``: the schema)."""
    tenant = ", for_tenant text" if tenant_column else ""
    feed = "e.position > after AND e.position < below"
    stream = "e.stream_id = in_stream AND"
    return f"""
CREATE FUNCTION {{schema}}.forze_read_page(
    after bigint, lock_class oid, lock_object oid, types text[], categories text[],
    page bigint, budget bigint{tenant}
) {_COLUMNS} LANGUAGE plpgsql VOLATILE
SET enable_sort = off SET enable_bitmapscan = off
AS $read$
DECLARE
    below bigint := {{schema}}.forze_watermark(lock_class, lock_object) << 20;
    taken bigint := 0;
    r record;
BEGIN
    IF types IS NULL AND categories IS NULL THEN{_loop(tenant_column, feed, "e.position")}
    ELSIF types IS NULL AND cardinality(categories) = 1 THEN{
        _loop(tenant_column, feed + " AND e.category = categories[1]", "e.position")
    }
    ELSIF categories IS NULL AND cardinality(types) = 1 THEN{
        _loop(tenant_column, feed + " AND e.event_type = types[1]", "e.position")
    }
    ELSE{
        _loop(
            tenant_column,
            feed
            + " AND (types IS NULL OR e.event_type = ANY(types))"
            + " AND (categories IS NULL OR e.category = ANY(categories))",
            "e.position",
        )
    }
    END IF;
END
$read$;

CREATE FUNCTION {{schema}}.forze_read_stream_page(
    in_stream text, from_version integer, backwards boolean, page bigint, budget bigint{tenant}
) {_COLUMNS} LANGUAGE plpgsql STABLE
AS $read$
DECLARE
    taken bigint := 0;
    r record;
BEGIN
    IF backwards THEN{_loop(tenant_column, stream + " e.version <= from_version", "e.version DESC")}
    ELSE{_loop(tenant_column, stream + " e.version >= from_version", "e.version")}
    END IF;
END
$read$;
"""
