"""The SQL of the PostgreSQL event store (kept apart from the Python that runs it).

Positions are ``(transaction id << 20) + n``: every event of one transaction gets consecutive
positions inside its transaction's block, so the feed's order is the order of transaction ids.

Every appending transaction holds a shared advisory lock of the schema *before* it gets a
transaction id (the append statement takes it first; ``PostgresDatabase.transaction`` takes it
at ``BEGIN``). A reader first computes its watermark in one statement: the smallest transaction
id among the lock's holders and among the ids PostgreSQL has handed out but not yet locked,
or its snapshot's xmax when there is none (see :data:`WATERMARK_OF`). Then, in a later
statement (a later snapshot), it reads only positions below ``watermark << 20``. Any
transaction that may still add events either holds the lock now (its id is at least the
watermark) or will get an id at least the snapshot's xmax, so no event can ever appear below
a position a reader has seen. Unrelated long transactions in the
cluster do not hold the feed back, and writers of different streams share no exclusive lock.

A stream's events must also follow its versions in the feed. An append takes an exclusive
advisory lock of its stream before its transaction gets an id, so appenders of one stream get
their ids in the order they append. A transaction that already had an id (it wrote something
else first) may still come after an appender with a larger id; its events would then land
below the stream's last ones, so it stores nothing: it retries when the transaction is its
own (with a new id), or fails with a ``ConcurrencyError`` in the caller's transaction.
"""

from __future__ import annotations

import zlib

__all__ = [
    "LISTENERS_LOCK",
    "POSITION_BITS",
    "STREAM_LOCK_CLASS",
    "WATERMARK",
    "WATERMARK_OF",
    "Statements",
    "listeners_lock",
    "lock_key",
]

POSITION_BITS = 20
"""Low bits of a position numbering events inside one transaction (at most 2**20 of them)."""

WATERMARK_OF = """
WITH top AS (
    SELECT s.snap, pg_snapshot_xmax(s.snap)::text::bigint AS nx FROM (SELECT {snapshot} AS snap) s
), locks AS MATERIALIZED (
    -- one read of the lock table (each mention of pg_locks would read it anew)
    SELECT locktype, virtualtransaction, transactionid::text::bigint AS xid32
    FROM {locks}
    WHERE granted AND (locktype = 'transactionid'
                       OR (locktype = 'advisory' AND classid = $1::oid AND objid = $2::oid
                           AND objsubid = 1))
)
SELECT LEAST(top.nx, (
    -- the feed lock's holders' ids; pg_locks shows 32-bit xids: widen each to the 64-bit id
    -- nearest the snapshot's xmax (a holder may have got its id after the snapshot was
    -- taken, so above xmax)
    SELECT min(top.nx + ((t.xid32 - (top.nx & 4294967295) + 2147483648) & 4294967295)
               - 2147483648)
    FROM locks a JOIN locks t ON t.virtualtransaction = a.virtualtransaction
                             AND t.locktype = 'transactionid'
    WHERE a.locktype = 'advisory'
), (
    -- ids running at the snapshot whose lock is not in the table: a transaction gets its id
    -- a moment before it locks it, and may hold the feed lock meanwhile. Only while some
    -- holder of the feed lock shows no id lock (one in that moment, or one with no id yet)
    -- can such an id be an appender's; otherwise it is another transaction of the cluster
    -- in that moment. One that has ended since the snapshot has no lock left either, but it
    -- can add nothing more, and the reader's later snapshot sees what it committed.
    SELECT min(x::text::bigint) FROM pg_snapshot_xip(top.snap) x
    WHERE NOT EXISTS (SELECT FROM locks t WHERE t.locktype = 'transactionid'
                                           AND t.xid32 = x::text::bigint & 4294967295)
      AND EXISTS (SELECT FROM locks a WHERE a.locktype = 'advisory' AND NOT EXISTS (
                  SELECT FROM locks t WHERE t.locktype = 'transactionid'
                                        AND t.virtualtransaction = a.virtualtransaction))
      AND {running}
)) FROM top
"""
"""The reader's watermark, reading ``{snapshot}`` and the lock table ``{locks}`` (tests put
made-up ones in their place): no transaction that may still add events has a smaller id.
``$1`` and ``$2`` are the two halves of the schema's advisory lock key.

The snapshot is the statement's, taken before the lock table is read. A transaction that may
append holds the feed lock before it gets an id, so when the lock table is read each such
transaction either has no id yet (its id will be at least the snapshot's xmax), or shows its
id's lock (it counts among the holders), or got its id but has not locked it yet: PostgreSQL
publishes an id a few instructions before it locks it, so the id is in the snapshot's list
of running ids but not in the lock table. Such ids count too; so does an id that ended
between the snapshot and the lock table's read, which only holds this one reader back for
one statement. Other long transactions show their id's lock without the feed lock, and are
ignored.
"""

WATERMARK = WATERMARK_OF.format(
    snapshot="pg_current_snapshot()",
    locks="pg_locks",
    running="pg_xact_status(x) = 'in progress'",
)
""":data:`WATERMARK_OF` over the statement's snapshot and the server's lock table."""


def _below(parameter: int) -> str:
    """``position < watermark << 20`` with the watermark in parameter ``$parameter``."""
    return f"position < (${parameter}::bigint << {POSITION_BITS})"


_COLUMNS = (
    "event_id, event_type, data::text, metadata::text, stream_id, version, position, recorded_at"
)


STREAM_LOCK_CLASS = "(({key})::bigint & 2147483647)::integer"
"""The first half of a stream's advisory lock, from the schema's feed lock key ``key``; the
second half hashes the stream id (a collision only makes two streams' appenders take turns)."""


LISTENERS_LOCK = "(({key})::bigint # (1::bigint << 32))"
"""The advisory lock (a bigint, from the schema's feed lock key ``key``) every LISTEN connection
of the schema's channel holds, shared, while it listens: an appender that can take it alone
knows nobody listens, and sends no notification."""


def listeners_lock(schema: str) -> int:
    """:data:`LISTENERS_LOCK` of ``schema``, computed here."""
    return lock_key(schema) ^ (1 << 32)


def lock_key(schema: str) -> int:
    """The advisory lock (a bigint) every appender of ``schema`` holds, shared."""
    return (0x666F << 32) | zlib.crc32(schema.encode())


class Statements:
    """Every statement, with the schema's tables filled in.

    With ``tenant_column`` (tenants sharing the tables), every statement takes the tenant as
    its last parameter and reads and writes only that tenant's rows.
    """

    def __init__(self, schema: str, *, tenant_column: bool = False) -> None:
        events = f"{schema}.forze_events"
        self.channel = f"forze_events_{schema.strip(chr(34))}"

        def tenant(parameter: int, alias: str = "") -> str:
            """``tenant = $parameter AND `` in the tenant-column layout, else nothing."""
            return f"{alias}tenant = ${parameter} AND " if tenant_column else ""

        # $1 stream, $2 count, $3 expected version (NULL: no check), $4 may update an existing
        # stream, $5 may create it, $6 event ids, $7 types, $8 data, $9 metadata (arrays, or
        # values for append_one), $10 category, $11 the schema's advisory lock key, $12 in a
        # transaction of its own, $13 the channel to notify or NULL, [$14 the tenant]; see
        # forze_postgres._append_ddl
        parameters = ", ".join(f"${n}" for n in range(1, 15 if tenant_column else 14))
        self.append = f"SELECT out_version, out_position FROM {schema}.forze_append({parameters})"
        self.append_one = (
            f"SELECT out_version, out_position FROM {schema}.forze_append_one({parameters})"
        )
        tenant_into, tenant_value = ("tenant, ", "$14, ") if tenant_column else ("", "")
        stream_key = "hashtext($14 || '/' || $1)" if tenant_column else "hashtext($1)"
        # One event, in a transaction of its own, the stream's lock free: one plain statement,
        # cheaper than the function. Nothing is stored (no row comes back) when the lock is
        # taken or the expectation fails, and a unique violation follows from a stale read
        # (an appender that committed after this statement's snapshot): the caller then
        # runs append_one, which waits for the lock and reads after it. The parameters are
        # append_one's ($12, true here, only checked).
        self.append_alone = f"""
        INSERT INTO {events} (position, {tenant_into}stream_id, version, event_id, event_type,
                              category, data, metadata)
        SELECT x.low, {tenant_value}$1, COALESCE(l.version, 0) + $2::integer, $6::uuid,
               $7::text, $10::text, $8::text::jsonb, $9::text::jsonb
        FROM (SELECT pg_advisory_xact_lock_shared($11::bigint) AS shared,
                     pg_try_advisory_xact_lock({STREAM_LOCK_CLASS.format(key="$11")},
                                               {stream_key}) AS mine,
                     CASE WHEN $13::text IS NOT NULL
                               AND NOT pg_try_advisory_xact_lock({LISTENERS_LOCK.format(key="$11")})
                          THEN pg_notify($13, '') END AS notified
             ) locks
        CROSS JOIN LATERAL (
            -- the id, after the locks (read off their row); the block is this statement's
            SELECT pg_current_xact_id()::text::bigint << {POSITION_BITS} AS low WHERE locks.mine
        ) x
        LEFT JOIN LATERAL (
            SELECT e.version FROM {events} e WHERE {tenant(14, "e.")}e.stream_id = $1
            ORDER BY e.version DESC LIMIT 1
        ) l ON true
        WHERE $12::boolean AND CASE WHEN l.version IS NULL THEN $5::boolean
                                    ELSE $4::boolean AND ($3::integer IS NULL OR l.version = $3)
                               END
        RETURNING version, position
        """
        # One event at a version the store knows follows the stream's last (see
        # forze_eventstore.adapter_kit.KnownVersions), in a transaction of its own: no read at
        # all. The unique key refuses a version already stored. Like every appender it holds the
        # stream's lock while it inserts (so the function, which reads after taking it, never
        # meets a row it could not see); no row comes back when that lock, or the feed lock,
        # is not to be had at once. The filter runs before the target list, so both are held
        # before pg_current_xact_id() gives the transaction its id. $1 stream, $2 version,
        # $3 event id, $4 type, $5 category, $6 data, $7 metadata, $8 the lock key, $9 the
        # channel to notify or NULL, [$10 the tenant].
        known_tenant = "$10, " if tenant_column else ""
        known_stream_key = "hashtext($10 || '/' || $1)" if tenant_column else "hashtext($1)"
        self.append_known = f"""
        INSERT INTO {events} (position, {tenant_into}stream_id, version, event_id, event_type,
                              category, data, metadata)
        SELECT pg_current_xact_id()::text::bigint << {POSITION_BITS}, {known_tenant}$1,
               $2::integer, $3::uuid, $4::text, $5::text, $6::text::jsonb, $7::text::jsonb
        WHERE CASE WHEN pg_try_advisory_xact_lock_shared($8::bigint)
                   THEN pg_try_advisory_xact_lock({STREAM_LOCK_CLASS.format(key="$8")},
                                                  {known_stream_key})
                   ELSE false END
          AND CASE WHEN $9::text IS NOT NULL
                        AND NOT pg_try_advisory_xact_lock({LISTENERS_LOCK.format(key="$8")})
                   THEN pg_notify($9, '') IS NOT NULL ELSE true END
        RETURNING position
        """
        last_event = f"FROM {events} WHERE {tenant(2)}stream_id = $1 ORDER BY version DESC LIMIT 1"
        # Whether a transaction with a later id appended to stream $1 (this one, already
        # holding an id, can then only append below that stream's last events: refused)
        self.overtaken = (
            f"SELECT position >> {POSITION_BITS} > pg_current_xact_id()::text::bigint {last_event}"
        )
        self.stream_version = f"SELECT version {last_event}"
        self.places = (
            "SELECT event_id, stream_id, version, position, event_type, data::text,"
            f" metadata::text FROM {events} WHERE {tenant(2)}event_id = ANY($1::uuid[])"
        )
        self.read_forwards = (
            f"SELECT {_COLUMNS} FROM {events} WHERE {tenant(4)}stream_id = $1 AND version >= $2"
            " ORDER BY version LIMIT $3"
        )
        self.read_backwards = (
            f"SELECT {_COLUMNS} FROM {events} WHERE {tenant(4)}stream_id = $1 AND version <= $2"
            " ORDER BY version DESC LIMIT $3"
        )
        # $1 after, $2 and $3 the advisory lock's halves, $4 types, $5 categories, $6 limit
        self.read_all = (
            f"SELECT * FROM {schema}.forze_read_all($1, $2, $3, $4::text[], $5::text[], $6"
            + (", $7)" if tenant_column else ")")
        )
        # forze_read_all's parameters, then $7 the page's budget (characters of JSON text)
        self.read_page = (
            f"SELECT * FROM {schema}.forze_read_page($1, $2, $3, $4::text[], $5::text[], $6, $7"
            + (", $8)" if tenant_column else ")")
        )
        # $1 stream, $2 first version, $3 backwards, $4 limit, $5 budget
        self.read_stream_page = (
            f"SELECT * FROM {schema}.forze_read_stream_page($1, $2, $3, $4, $5"
            + (", $6)" if tenant_column else ")")
        )
        self.watermark = f"SELECT {schema}.forze_watermark($1, $2)"
        # $1 the lock key, $2.. see forze_postgres._event_rows.batch_arguments, [$14 the tenant]
        self.append_many = (
            f"SELECT heads, base FROM {schema}.forze_append_many($1, $2, $3, $4, $5, $6, $7,"
            " $8, $9, $10::uuid[], $11, $12, $13" + (", $14)" if tenant_column else ")")
        )
        self.own_events = (
            f"SELECT {_COLUMNS} FROM {events} WHERE position > $1 AND position <= $2"
            " ORDER BY position"
        )
        self.count = f"SELECT count(*) FROM {events} WHERE {tenant(3)}position > $1 AND {_below(2)}"
        self.head = f"SELECT max(position) FROM {events} WHERE {tenant(2)}{_below(1)}"
