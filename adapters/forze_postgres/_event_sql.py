"""The SQL of the PostgreSQL event store (kept apart from the Python that runs it).

Positions are ``(transaction id << 20) + n``: every event of one transaction gets consecutive
positions inside its transaction's block, so the feed's order is the order of transaction ids.
Readers only see positions below ``pg_snapshot_xmin(pg_current_snapshot()) << 20``: every
transaction with a smaller id has finished, and every transaction that may still commit has
an id at least that large, so no event can ever appear below a position a reader has seen.
No lock is shared between writers of different streams.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "POSITION_BITS", "Statements"]

POSITION_BITS = 20
"""Low bits of a position numbering events inside one transaction (at most 2**20 of them)."""

MIGRATIONS: tuple[str, ...] = (
    """
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
    """,
)

_WATERMARK = f"(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << {POSITION_BITS})"
_COLUMNS = (
    "event_id, event_type, data::text, metadata::text, stream_id, version, position, recorded_at"
)


class Statements:
    """Every statement, with the schema's tables filled in."""

    def __init__(self, schema: str) -> None:
        events, streams = f"{schema}.forze_events", f"{schema}.forze_streams"
        self.channel = f"forze_events_{schema.strip(chr(34))}"
        # $1 stream, $2 count, $3 expected version (NULL: no check), $4 may update an existing
        # stream, $5 may create it, $6 event ids, $7 types, $8 data, $9 metadata, $10 category
        self.append = f"""
        WITH updated AS (
            UPDATE {streams} SET version = version + $2
            WHERE stream_id = $1 AND $4 AND ($3::integer IS NULL OR version = $3)
            RETURNING version
        ), created AS (
            INSERT INTO {streams} (stream_id, version)
            SELECT $1, $2 WHERE $5 AND NOT EXISTS (SELECT 1 FROM {streams} WHERE stream_id = $1)
            ON CONFLICT (stream_id) DO NOTHING
            RETURNING version
        ), head AS (
            SELECT version FROM updated UNION ALL SELECT version FROM created
        ), block AS (
            SELECT pg_current_xact_id()::text::bigint << {POSITION_BITS} AS low
        ), base AS (
            SELECT COALESCE(
                (SELECT max(e.position) FROM {events} e, block
                 WHERE e.position >= block.low AND e.position < block.low + {1 << POSITION_BITS}),
                (SELECT low FROM block) - 1
            ) AS last
        ), inserted AS (
            INSERT INTO {events} (position, stream_id, version, event_id, event_type, category,
                                  data, metadata)
            SELECT base.last + n, $1, head.version - $2 + n, e.id, e.type, $10,
                   e.data::jsonb, e.metadata::jsonb
            FROM head, base,
                 unnest($6::uuid[], $7::text[], $8::text[], $9::text[])
                 WITH ORDINALITY AS e(id, type, data, metadata, n)
            RETURNING position, version
        )
        SELECT (SELECT max(version) FROM inserted), (SELECT max(position) FROM inserted),
               pg_notify('{self.channel}', '')
        """
        self.stream_version = f"SELECT version FROM {streams} WHERE stream_id = $1"
        self.places = (
            f"SELECT event_id, stream_id, version, position FROM {events}"
            " WHERE event_id = ANY($1::uuid[])"
        )
        self.read_forwards = (
            f"SELECT {_COLUMNS} FROM {events} WHERE stream_id = $1 AND version >= $2"
            " ORDER BY version LIMIT $3"
        )
        self.read_backwards = (
            f"SELECT {_COLUMNS} FROM {events} WHERE stream_id = $1 AND version <= $2"
            " ORDER BY version DESC LIMIT $3"
        )
        self.read_all = (
            f"SELECT {_COLUMNS} FROM {events} WHERE position > $1 AND position < {_WATERMARK}"
            " AND ($2::text[] IS NULL OR event_type = ANY($2))"
            " AND ($3::text[] IS NULL OR category = ANY($3))"
            " ORDER BY position LIMIT $4"
        )
        self.own_events = (
            f"SELECT {_COLUMNS} FROM {events} WHERE position > $1 AND position <= $2"
            " ORDER BY position"
        )
        self.head = f"SELECT max(position) FROM {events} WHERE position < {_WATERMARK}"
