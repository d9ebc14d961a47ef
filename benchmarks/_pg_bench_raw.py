"""The raw side of ``benchmarks/postgres.py``: plain asyncpg statements on plain tables, the
physical limit of putting the same rows in and getting them out (no version check beyond a
unique index, no feed watermark, no notification, no pool).

Its events table has forze's row shape (stream, version, event id, type, category, data and
metadata as JSONB, recorded_at) with a ``BIGSERIAL`` key and one unique index on
``(stream_id, version)``, which reading a stream needs. Every append is autocommitted.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

from forze.contracts import category_of

if TYPE_CHECKING:  # mypy names the file by its path; at run time benchmarks/ is sys.path[0]
    from benchmarks._harness import Stopwatch
    from benchmarks._pg_bench_forze import Prepared
    from benchmarks._pg_bench_plan import FEED_PAGE, Append, Plan, Record, check_count, part_of
else:
    from _harness import Stopwatch
    from _pg_bench_plan import FEED_PAGE, Append, Plan, Record, check_count, part_of

__all__ = ["RAW", "RAW_WITH_IDS", "RawSide", "open_side"]

RAW = "raw"
RAW_WITH_IDS = "raw-ids"
"""raw's append-1w into a table that also has forze's unique index on event_id (a note)."""

Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record]"

_dumps = json.JSONEncoder(separators=(",", ":")).encode
_loads = json.loads
_raw_decode = json.JSONDecoder().raw_decode
"""The fastest stdlib decode of a whole JSON text (no trailing-whitespace check), as forze."""
_COLUMNS = (
    "event_id, event_type, data::text, metadata::text, stream_id, version, position, recorded_at"
)
_OPENED = "AccountOpened"
_CREDITS = frozenset({"MoneyDeposited", "TransferReceived"})
_DEBITS = frozenset({"MoneyWithdrawn", "TransferSent"})


class RawSide:
    """The raw scenarios in ``schema``; ``connections[0]`` runs the single-connection ones."""

    def __init__(
        self,
        connections: Sequence[Connection],
        schema: str,
        plan: Plan,
        prepared: Prepared,
        stored_before: int = 0,
        earlier: Sequence[Plan] = (),
    ) -> None:
        self.connections = list(connections)
        self.schema = schema
        self.plan = plan
        self.prepared = prepared
        self.stored_before = stored_before
        """Rows in the table before this plan's (an earlier plan's)."""
        self.plans = [*earlier, plan]
        self.with_ids_rate = 0.0
        """append-1w's events/s into :attr:`events_with_ids` (set by the scenario runner)."""
        """This plan and the earlier ones (whose events forze's feed holds too)."""
        self.events = f'"{schema}".events'
        self.events_with_ids = f'"{schema}".events_with_ids'
        """append-1w's table once more, with a unique index on event_id as forze's has (for a
        note beside the table; the issue's baseline is the table without it)."""
        self.balances = f'"{schema}".balances'
        self.checkpoints = f'"{schema}".checkpoints'
        self.insert_one = (
            f"INSERT INTO {self.events} (stream_id, version, event_id, event_type, category,"
            " data, metadata) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb)"
            " RETURNING position"
        )
        self.insert_many = (
            f"WITH i AS (INSERT INTO {self.events} (stream_id, version, event_id, event_type,"
            " category, data, metadata)"
            " SELECT $1, $2 + e.n - 1, e.id, e.type, $3, e.data::jsonb, e.metadata::jsonb"
            " FROM unnest($4::uuid[], $5::text[], $6::text[], $7::text[])"
            " WITH ORDINALITY AS e(id, type, data, metadata, n) RETURNING position)"
            " SELECT max(position) FROM i"
        )

    @property
    def stored_events(self) -> int:
        """This plan's rows: every write scenario but the command path, which raw lacks."""
        return self.plan.stored_events - sum(h.length for h in self.plan.commands)

    def following(self, plan: Plan, prepared: Prepared) -> RawSide:
        """The scenarios of ``plan`` on the same connections and tables, after this side's."""
        stored = self.stored_before + self.stored_events
        return RawSide(self.connections, self.schema, plan, prepared, stored, self.plans)

    async def create_tables(self) -> None:
        await self.connections[0].execute(
            f"CREATE TABLE {self.events} (position BIGSERIAL PRIMARY KEY,"
            " stream_id TEXT NOT NULL, version INTEGER NOT NULL, event_id UUID NOT NULL,"
            " event_type TEXT NOT NULL, category TEXT NOT NULL, data JSONB NOT NULL,"
            " metadata JSONB NOT NULL,"
            " recorded_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp());"
            f" CREATE UNIQUE INDEX ON {self.events} (stream_id, version);"
            f" CREATE TABLE {self.events_with_ids} (LIKE {self.events} INCLUDING ALL);"
            f" CREATE UNIQUE INDEX ON {self.events_with_ids} (event_id);"
            f" CREATE TABLE {self.checkpoints} (name TEXT PRIMARY KEY, position BIGINT NOT NULL)"
        )

    async def _insert_each(
        self, connection: Connection, appends: Sequence[Append], *, with_ids: bool = False
    ) -> int:
        """One autocommitted ``INSERT ... VALUES`` per append (each append has one event;
        ``with_ids``: into :attr:`events_with_ids`)."""
        sql = self.insert_one
        if with_ids:
            sql = sql.replace(self.events, self.events_with_ids, 1)
        count = 0
        for stream_id, events, _, version in appends:
            (new,) = events
            await connection.fetchval(
                sql,
                stream_id,
                version,
                new.event_id,
                new.event_type,
                category_of(stream_id),
                _dumps(new.data),
                _dumps(new.metadata),
            )
            count += 1
        return count

    async def _insert_batches(self, connection: Connection, appends: Sequence[Append]) -> int:
        """One autocommitted ``INSERT ... SELECT FROM unnest(...)`` per append."""
        sql = self.insert_many
        count = 0
        for stream_id, events, _, version in appends:
            await connection.fetchval(
                sql,
                stream_id,
                version,
                category_of(stream_id),
                [e.event_id for e in events],
                [e.event_type for e in events],
                [_dumps(e.data) for e in events],
                [_dumps(e.metadata) for e in events],
            )
            count += len(events)
        return count

    async def append_single(self, record: Record, part: int = 0, parts: int = 1) -> None:
        """Slice ``part`` of ``parts`` of the single-writer appends (see ``part_of``)."""
        appends = part_of(self.prepared.single.appends, part, parts)
        with Stopwatch() as watch:
            count = await self._insert_each(self.connections[0], appends)
        check_count("raw append-1w", count, sum(len(a[1]) for a in appends))
        record("append-1w", RAW, count, watch.seconds)

    async def append_single_with_ids(self, record: Record, part: int, parts: int) -> None:
        """:meth:`append_single` into :attr:`events_with_ids` (recorded as ``raw-ids``)."""
        appends = part_of(self.prepared.single.appends, part, parts)
        with Stopwatch() as watch:
            count = await self._insert_each(self.connections[0], appends, with_ids=True)
        check_count("raw-ids append-1w", count, sum(len(a[1]) for a in appends))
        record("append-1w", RAW_WITH_IDS, count, watch.seconds)

    async def append_writers(self, record: Record) -> None:
        plans = [encoded.appends for encoded in self.prepared.writers]
        if len(plans) > len(self.connections):
            raise RuntimeError("fewer raw connections than writers")
        with Stopwatch() as watch:
            counts = await asyncio.gather(
                *(self._insert_each(c, p) for c, p in zip(self.connections, plans, strict=False))
            )
        wanted = sum(h.length for writer in self.plan.writers for h in writer)
        check_count("raw append-8w", sum(counts), wanted)
        record("append-8w", RAW, sum(counts), watch.seconds)

    async def append_batched(self, record: Record) -> None:
        appends = self.prepared.batched.appends
        with Stopwatch() as watch:
            count = await self._insert_batches(self.connections[0], appends)
        check_count("raw append-batch", count, sum(h.length for h in self.plan.batched))
        record("append-batch", RAW, count, watch.seconds)

    async def replay(self, record: Record, *, long: bool = False) -> None:
        """Each ``append-1w`` (``long``: ``append-batch``) stream's rows in version order,
        data and metadata decoded."""
        connection = self.connections[0]
        sql = f"SELECT {_COLUMNS} FROM {self.events} WHERE stream_id = $1 ORDER BY version"
        streams = (self.prepared.batched if long else self.prepared.single).streams
        histories = self.plan.batched if long else self.plan.single
        loaded: list[list[tuple[Any, ...]]] = []
        with Stopwatch() as watch:
            for stream_id in streams:
                rows = await connection.fetch(sql, stream_id)
                loaded.append([_decoded(row) for row in rows])
        replayed = 0
        for events, history in zip(loaded, histories, strict=True):
            balance = sum(e[2]["amount"] for e in events[1:])
            if len(events) != history.length or balance != history.balance:
                raise RuntimeError("raw replay read a stream wrongly")
            replayed += len(events)
        record("replay-long" if long else "replay", RAW, replayed, watch.seconds)

    async def feed(self, record: Record) -> None:
        """Every row in position order, pages of ``FEED_PAGE`` (keyset), JSON decoded."""
        connection = self.connections[0]
        sql = f"SELECT {_COLUMNS} FROM {self.events} WHERE position > $1 ORDER BY position LIMIT $2"
        after = count = 0
        with Stopwatch() as watch:
            while rows := await connection.fetch(sql, after, FEED_PAGE):
                page = [_decoded(row) for row in rows]
                count += len(page)
                after = page[-1][6]
        check_count("raw feed", count, self.stored_before + self.stored_events)
        record("feed", RAW, count, watch.seconds)

    async def rebuild(
        self, record: Record, events_table: str, model_table: str, expected: int
    ) -> None:
        """The balances of forze's feed (``events_table``) into a copy of forze's read-model
        table (``model_table``: same columns and indexes), ``FEED_PAGE`` events per
        transaction: select the page, select the page's documents, apply the events,
        ``executemany`` the upserts, save the checkpoint."""
        connection = self.connections[0]
        await connection.execute(
            f"DROP TABLE IF EXISTS {self.balances};"
            f" CREATE TABLE {self.balances} (LIKE {model_table} INCLUDING ALL);"
            f" DELETE FROM {self.checkpoints}"
        )
        select = (
            f"SELECT position, stream_id, version, event_type, data::text FROM {events_table}"
            " WHERE position > $1 ORDER BY position LIMIT $2"
        )
        documents = f"SELECT key, doc::text FROM {self.balances} WHERE key = ANY($1::text[])"
        upsert = (
            f"INSERT INTO {self.balances} (key, doc) VALUES ($1, $2::jsonb)"
            " ON CONFLICT (key) DO UPDATE SET doc = excluded.doc"
        )
        checkpoint = (
            f"INSERT INTO {self.checkpoints} (name, position) VALUES ('balances', $1)"
            " ON CONFLICT (name) DO UPDATE SET position = excluded.position"
        )
        after = handled = 0
        with Stopwatch() as watch:
            while rows := await connection.fetch(select, after, FEED_PAGE):
                async with connection.transaction():
                    keys = list({row[1].partition("-")[2] for row in rows})
                    docs = {k: _loads(d) for k, d in await connection.fetch(documents, keys)}
                    changed = _apply(rows, docs)
                    await connection.executemany(
                        upsert, [(key, _dumps(doc)) for key, doc in changed.items()]
                    )
                    after = rows[-1][0]
                    await connection.execute(checkpoint, after)
                handled += len(rows)
        check_count("raw rebuild", handled, expected)
        record("rebuild", RAW, handled, watch.seconds)


def _decoded(row: asyncpg.Record) -> tuple[Any, ...]:
    return (
        row[0],
        row[1],
        _raw_decode(row[2])[0],
        _raw_decode(row[3])[0],
        row[4],
        row[5],
        row[6],
        row[7],
    )


def _apply(rows: Sequence[asyncpg.Record], docs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The bank's balances handlers, inline: the documents the page changed."""
    changed: dict[str, Any] = {}
    for _, stream_id, version, event_type, data_text in rows:
        key = stream_id.partition("-")[2]
        if event_type == _OPENED:
            data = _loads(data_text)
            doc = {
                "account_id": key,
                "owner": data["owner"],
                "balance": 0,
                "transactions": 0,
                "version": 1,
            }
        elif event_type in _CREDITS or event_type in _DEBITS:
            current = docs.get(key)
            if current is None or version <= current["version"]:
                continue
            amount = _loads(data_text)["amount"]
            doc = {
                **current,
                "balance": current["balance"] + (amount if event_type in _CREDITS else -amount),
                "transactions": current["transactions"] + 1,
                "version": version,
            }
        else:
            continue
        docs[key] = changed[key] = doc
    return changed


async def open_side(
    dsn: str, schema: str, plan: Plan, prepared: Prepared, connections: int
) -> RawSide:
    """``connections`` plain asyncpg connections (autocommit) and the raw tables."""
    opened: list[Connection] = []
    try:
        for _ in range(connections):
            opened.append(await asyncpg.connect(dsn))
        side = RawSide(opened, schema, plan, prepared)
        await side.create_tables()
        return side
    except BaseException:
        for connection in opened:
            await connection.close()
        raise
