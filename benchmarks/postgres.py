"""PostgreSQL throughput: forze against the eventsourcing library and raw asyncpg, one server.

Run ``.venv/bin/python benchmarks/postgres.py [--events N] [--json]``. The server is the one
of ``FORZE_TEST_POSTGRES_DSN`` (an administrative DSN; default
``postgresql://postgres@127.0.0.1:5432/postgres``): the run creates a throwaway database
there, gives each implementation its own schema in it, and drops it at the end.

Scenarios (events per second; ``--events`` is the number of events of each write scenario),
the bank example's events (``AccountOpened``, then ``MoneyDeposited``s):

* ``append-1w``: one writer, one event per append with its expected version, 10 events per
  account, accounts interleaved round by round; run in five slices, the implementations
  taking turns slice by slice, each going first in turn (each figure sums its five).
  forze: ``PostgresEventStore.append`` of prebuilt ``NewEvent``s; eventsourcing:
  ``PostgresApplicationRecorder.insert_events`` of prebuilt ``StoredEvent``s (its append: the
  primary key is the version check); raw: one autocommitted ``INSERT ... VALUES`` of the
  same row. A fourth turn, ``raw-ids``, inserts into a copy of raw's table that also has
  forze's unique index on event_id; it is printed as a note, not in the table.
* ``append-8w``: the same with 8 concurrent writers, each appending to its own accounts.
  forze and raw: 8 asyncio tasks (forze's pool of 8; raw's 8 connections); eventsourcing:
  8 threads, each with its own ``Application`` (a pool of one connection).
* ``append-batch``: 100 events per append, 5 appends per account (expected versions 0, 100,
  ...). raw: one ``INSERT ... SELECT FROM unnest(...)`` per batch.
* ``append-command`` (forze and eventsourcing): the command path. Each account is created
  (open, save), then gets one deposit per command: load, deposit, save.
  forze: ``EventSourcedRepository``; eventsourcing: ``repository.get`` and ``app.save``.
* ``replay``: every account of ``append-1w`` loaded whole into an aggregate (forze:
  ``EventSourcedRepository.load``; eventsourcing: ``repository.get``), or, raw, its rows
  selected in version order with data and metadata JSON-decoded. With 10 events per stream
  this is one round trip per 10 events: it measures round trips more than replay.
* ``replay-long``: the same for every account of ``append-batch`` (500 events each), where
  decoding and applying the events dominate.
* ``feed``: everything the implementation stored, in pages of 1000, JSON-decoded (forze:
  ``read_all``; eventsourcing: ``select_notifications`` plus its transcoder's decode of each
  state; raw: keyset ``SELECT``).
* ``rebuild`` (forze and raw): the bank's ``BALANCES_PROJECTION`` over forze's whole feed
  into a Postgres read model. forze: ``Projector(..., batch_size=1000).rebuild`` with
  ``PostgresProjectionBackend`` on the event store's database; raw: a loop over pages of
  1000 of the same events table, one transaction per page (select the page's documents,
  apply the events, ``executemany`` the upserts, save a checkpoint) into a copy of forze's
  read-model table (``LIKE ... INCLUDING ALL``: same columns and indexes). The two tables
  must end up equal, and equal to the balances computed from the plan.

Every figure is one timed run after a warm-up run of every scenario (same pools and tables).
Besides the table and its notes, the run prints the issue's targets with PASS or MISS; it
never fails on speed.
"""

from __future__ import annotations

import asyncio
import os
import platform
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version as package_version
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import asyncpg

if TYPE_CHECKING:  # mypy names the file by its path; at run time benchmarks/ is sys.path[0]
    from benchmarks import _pg_bench_eventsourcing as es_side
    from benchmarks import _pg_bench_forze as forze_side
    from benchmarks import _pg_bench_raw as raw_side
    from benchmarks._harness import Results, base_parser, progress
    from benchmarks._pg_bench_eventsourcing import EVENTSOURCING
    from benchmarks._pg_bench_forze import FORZE
    from benchmarks._pg_bench_plan import (
        BATCH,
        BATCHES_PER_STREAM,
        EVENTS_PER_AGGREGATE,
        FEED_PAGE,
        SINGLE_WRITER_PARTS,
        WRITERS,
        Plan,
        Record,
        make_plan,
        skip,
    )
    from benchmarks._pg_bench_raw import RAW
else:
    import _pg_bench_eventsourcing as es_side
    import _pg_bench_forze as forze_side
    import _pg_bench_raw as raw_side
    from _harness import Results, base_parser, progress
    from _pg_bench_eventsourcing import EVENTSOURCING
    from _pg_bench_forze import FORZE
    from _pg_bench_plan import (
        BATCH,
        BATCHES_PER_STREAM,
        EVENTS_PER_AGGREGATE,
        FEED_PAGE,
        SINGLE_WRITER_PARTS,
        WRITERS,
        Plan,
        Record,
        make_plan,
        skip,
    )
    from _pg_bench_raw import RAW

DEFAULT_EVENTS = 5_000
WARMUP_EVENTS = 500
ADMIN_DSN = os.environ.get(
    "FORZE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)

SCENARIOS = [
    "append-1w",
    "append-8w",
    "append-batch",
    "append-command",
    "replay",
    "replay-long",
    "feed",
    "rebuild",
]
IMPLEMENTATIONS = [FORZE, EVENTSOURCING, RAW]
FORZE_SCHEMA, ES_SCHEMA, RAW_SCHEMA = "forze_bench", "es_bench", "raw_bench"


# --- the database --------------------------------------------------------------------------


def with_database(dsn: str, name: str) -> str:
    """``dsn`` pointing at database ``name``."""
    base, _, query = dsn.partition("?")
    root = base.rsplit("/", 1)[0] if base.count("/") > 2 else base
    return f"{root}/{name}" + (f"?{query}" if query else "")


async def admin(sql: str) -> None:
    """Run ``sql`` on the administrative DSN."""
    connection = await asyncpg.connect(ADMIN_DSN)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def es_connection(dsn: str) -> tuple[str, int, str, str, str]:
    """``(host, port, user, password, dbname)`` of ``dsn``, for eventsourcing's settings."""
    parts = urlsplit(dsn)
    return (
        parts.hostname or "127.0.0.1",
        parts.port or 5432,
        unquote(parts.username or "postgres"),
        unquote(parts.password or ""),
        unquote(parts.path.lstrip("/")),
    )


@dataclass(frozen=True, slots=True)
class Server:
    """What the notes say about the server."""

    version: str
    settings: dict[str, str]


async def server_facts(dsn: str) -> Server:
    connection = await asyncpg.connect(dsn)
    try:
        version = str(await connection.fetchval("SHOW server_version"))
        names = ["synchronous_commit", "fsync", "wal_sync_method", "shared_buffers"]
        rows = await connection.fetch(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY($1::text[])",
            names,
        )
        return Server(version, {str(r[0]): str(r[1]) for r in rows})
    finally:
        await connection.close()


# --- one run of every scenario -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Run:
    """What the measured run did, for the notes."""

    plan: Plan
    warmup: Plan
    rebuild_events: int
    rebuild_batches: int
    documents: int
    documents_per_batch: float
    raw_with_ids: float
    """append-1w's raw events/s into a table with forze's unique index on event_id too."""


async def scenarios(
    forze: forze_side.ForzeSide, es: es_side.EsSide, raw: raw_side.RawSide, record: Record
) -> tuple[int, int]:
    """Every scenario, the implementations taking turns scenario by scenario (so each figure
    of a scenario is taken on tables of the same size, at about the same moment); returns
    the number of forze rebuild batches and read-model documents."""
    progress("  append-1w")
    totals: dict[str, tuple[int, float]] = {}

    def add_slice(scenario: str, implementation: str, count: int, seconds: float) -> None:
        done, spent = totals.get(implementation, (0, 0.0))
        totals[implementation] = (done + count, spent + seconds)

    async def run_forze(part: int) -> None:
        await forze.append_single(add_slice, part, SINGLE_WRITER_PARTS)

    async def run_es(part: int) -> None:
        es.append_single(add_slice, part, SINGLE_WRITER_PARTS)

    async def run_raw(part: int) -> None:
        await raw.append_single(add_slice, part, SINGLE_WRITER_PARTS)

    async def run_raw_with_ids(part: int) -> None:
        await raw.append_single_with_ids(add_slice, part, SINGLE_WRITER_PARTS)

    order = [run_forze, run_es, run_raw, run_raw_with_ids]
    for part in range(SINGLE_WRITER_PARTS):
        turn = part % len(order)
        for run_one in order[turn:] + order[:turn]:  # each goes first in turn
            await run_one(part)
    for implementation, (count, seconds) in totals.items():
        if implementation == raw_side.RAW_WITH_IDS:
            raw.with_ids_rate = count / seconds
        else:
            record("append-1w", implementation, count, seconds)
    progress("  append-8w")
    await forze.append_writers(record)
    es.append_writers(record)
    await raw.append_writers(record)
    progress("  append-batch")
    await forze.append_batched(record)
    es.append_batched(record)
    await raw.append_batched(record)
    progress("  append-command")
    await forze.commands(record)
    es.commands(record)
    progress("  replay")
    await forze.replay(record)
    es.replay(record)
    await raw.replay(record)
    progress("  replay-long")
    await forze.replay(record, long=True)
    es.replay(record, long=True)
    await raw.replay(record, long=True)
    progress("  feed")
    await forze.feed(record)
    es.feed(record)
    await raw.feed(record)
    progress("  rebuild")
    batches = await forze.rebuild(record)
    await raw.rebuild(record, forze.events_table, forze.balances_table, forze.total_events)
    return batches, await check_rebuild(raw.connections[0], forze.balances_table, raw)


async def run(dsn: str, events: int, results: Results) -> Run:
    """A warm-up plan, then the measured plan, on the same pools, applications, connections
    and tables (so statement caches and pools are warm, and the measured run appends to
    tables that already hold the warm-up's events)."""
    warmup, plan = make_plan(min(events, WARMUP_EVENTS), seed=1), make_plan(events, seed=7)
    setup = await asyncpg.connect(dsn)
    try:
        await setup.execute(f'CREATE SCHEMA "{ES_SCHEMA}"; CREATE SCHEMA "{RAW_SCHEMA}"')
    finally:
        await setup.close()

    forze = await forze_side.open_side(dsn, FORZE_SCHEMA, warmup, WRITERS)
    es: es_side.EsSide | None = None
    raw: raw_side.RawSide | None = None
    try:
        host, port, user, password, dbname = es_connection(dsn)
        env = es_side.es_env(host, port, user, password, dbname, ES_SCHEMA, pool_size=1)
        es = es_side.open_side(env, warmup)
        raw = await raw_side.open_side(dsn, RAW_SCHEMA, warmup, forze.prepared, WRITERS)
        progress(f"warm-up: {sum(h.length for h in warmup.single):,} events per write scenario")
        await scenarios(forze, es, raw, skip)

        def record(scenario: str, implementation: str, count: int, seconds: float) -> None:
            results.add(scenario, implementation, count, seconds)

        forze = forze.following(plan)
        es, raw = es.following(plan), raw.following(plan, forze.prepared)
        progress(f"measuring: {events:,} events per write scenario")
        batches, documents = await scenarios(forze, es, raw, record)
        per_batch = await raw.connections[0].fetchval(
            "SELECT avg(n) FROM (SELECT count(DISTINCT stream_id) AS n FROM"
            f" (SELECT stream_id, (row_number() OVER (ORDER BY position) - 1) / {FEED_PAGE}"
            f" AS page FROM {forze.events_table}) AS paged GROUP BY page) AS pages"
        )
        return Run(
            plan,
            warmup,
            forze.total_events,
            batches,
            documents,
            float(per_batch or 0),
            raw.with_ids_rate,
        )
    finally:
        if raw is not None:
            for connection in raw.connections:
                await connection.close()
        if es is not None:
            es.close()
        await forze.db.close()


async def check_rebuild(
    connection: asyncpg.Connection[asyncpg.Record], forze_table: str, raw: raw_side.RawSide
) -> int:
    """Both read models hold the same documents, with the balances the plans imply (this
    side's plan and the plans before it, whose events the rebuild covers too); returns the
    number of documents."""
    differing = await connection.fetchval(
        f"SELECT count(*) FROM {forze_table} f FULL JOIN {raw.balances} r USING (key)"
        " WHERE f.doc IS DISTINCT FROM r.doc"
    )
    if differing:
        raise RuntimeError(f"the forze and raw read models differ in {differing} documents")
    row = await connection.fetchrow(
        "SELECT count(*), sum((doc->>'balance')::bigint), sum((doc->>'transactions')::bigint)"
        f" FROM {forze_table}"
    )
    histories = [h for plan in raw.plans for h in plan.histories]
    wanted = (
        len(histories),
        sum(h.balance for h in histories),
        sum(len(h.deposits) for h in histories),
    )
    got = (0, 0, 0) if row is None else (int(row[0]), int(row[1] or 0), int(row[2] or 0))
    if got != wanted:
        raise RuntimeError(
            f"rebuilt balances (documents, balance, transactions) are {got}, expected {wanted}"
        )
    return got[0]


async def run_all(events: int, results: Results) -> tuple[Run, Server]:
    """Create the throwaway database, warm up and measure, drop it."""
    name = f"forze_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    await admin(f'CREATE DATABASE "{name}"')
    dsn = with_database(ADMIN_DSN, name)
    try:
        server = await server_facts(dsn)
        return await run(dsn, events, results), server
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the report ----------------------------------------------------------------------------


def ratio(rates: dict[str, float], top: str, bottom: str) -> float | None:
    if top in rates and bottom in rates:
        return rates[top] / rates[bottom]
    return None


def table(results: Results) -> str:
    """One row per scenario: the three rates and forze's ratios to raw and eventsourcing."""
    rates = results.rates()
    header = ("scenario", *IMPLEMENTATIONS, "forze/raw", "forze/eventsourcing")
    rows: list[tuple[str, ...]] = []
    for scenario in [s for s in SCENARIOS if s in rates] + [s for s in rates if s not in SCENARIOS]:
        by_impl = rates[scenario]
        cells = [f"{by_impl[i]:,.0f}" if i in by_impl else "-" for i in IMPLEMENTATIONS]
        ratios = [ratio(by_impl, FORZE, RAW), ratio(by_impl, FORZE, EVENTSOURCING)]
        rows.append((scenario, *cells, *("-" if r is None else f"{r:.2f}x" for r in ratios)))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = f"{cells[0]:<{widths[0]}}"
        return "  ".join(
            [first, *(f"{c:>{w}}" for c, w in zip(cells[1:], widths[1:], strict=True))]
        )

    out = [f"Throughput ({results.unit}):", line(header), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in rows]
    return "\n".join(out)


@dataclass(frozen=True, slots=True)
class Target:
    """One of the issue's targets."""

    text: str
    scenario: str
    over: str | None
    """The implementation forze is divided by; ``None``: forze's own rate."""
    minimum: float

    def verdict(self, rates: dict[str, dict[str, float]]) -> str:
        by_impl = rates.get(self.scenario, {})
        if self.over is None:
            value = by_impl.get(FORZE)
            shown = "n/a" if value is None else f"{value:,.0f} events/s"
        else:
            value = ratio(by_impl, FORZE, self.over)
            shown = "n/a" if value is None else f"{value:.2f}x"
        if value is None:
            return f"n/a   {self.text}: not measured"
        return f"{'PASS' if value >= self.minimum else 'MISS'}  {self.text}: {shown}"


TARGETS = [
    Target("single-writer append >= 85% of raw (forze/raw >= 0.85)", "append-1w", RAW, 0.85),
    Target("8-writer append >= 3x eventsourcing", "append-8w", EVENTSOURCING, 3.0),
    Target("replay >= 3x eventsourcing", "replay", EVENTSOURCING, 3.0),
    Target("replay >= 3x eventsourcing (500-event streams)", "replay-long", EVENTSOURCING, 3.0),
    Target("rebuild >= 50,000 events/s", "rebuild", None, 50_000.0),
]


def add_notes(results: Results, measured: Run, server: Server) -> None:
    plan = measured.plan
    settings = ", ".join(f"{k}={v}" for k, v in sorted(server.settings.items()))
    warmup = sum(h.length for h in measured.warmup.single)
    results.note(
        f"One timed run per figure (append-1w: five slices, the implementations taking turns"
        " and each going first in turn),"
        f" after a warm-up run of every scenario ({warmup:,} events per write scenario) with"
        " the same pools, applications, connections and tables."
        f" PostgreSQL {server.version} ({settings}); client and server share this machine's"
        f" {os.cpu_count()} CPU(s), and other load on the server is not controlled."
    )
    results.note(
        f"append-1w, append-8w, append-command: {len(plan.single):,} accounts x"
        f" {EVENTS_PER_AGGREGATE} events each (append-8w: split between {WRITERS} writers);"
        f" replay loads append-1w's accounts. append-batch: {len(plan.batched):,} account(s),"
        f" {BATCH} events per append, up to {BATCHES_PER_STREAM} appends each. Every append"
        " checks an expected version (raw: only a unique index on (stream_id, version))."
    )
    results.note(
        "Each append is one commit at the server's durability. forze: one statement per"
        " append (the feed and stream locks and the events rows; one event at a version"
        " the store remembers, or the first of a new stream, is a plain INSERT ... SELECT"
        " without reading the stream; other single events read the stream's last"
        " event in that statement; more events go through a plpgsql function) on a"
        f" pooled connection (a pool of {WRITERS}, of which PostgresDatabase keeps up to half"
        " between calls), at most one append per 5 ms carrying a NOTIFY, sent only while a"
        " subscriber listens (none does here); eventsourcing:"
        " insert_events is one"
        " transaction taking LOCK TABLE ... IN EXCLUSIVE MODE, NOTIFY and the INSERT, on its"
        " application's pool of one connection; raw: an autocommitted INSERT on a dedicated"
        " connection."
    )
    forze_single = results.rates().get("append-1w", {}).get(forze_side.FORZE, 0.0)
    if measured.raw_with_ids:
        results.note(
            "append-1w beside raw with the unique index on event_id that forze must keep too"
            f" (raw-ids, a fourth turn in the same slices; not the issue's baseline):"
            f" {measured.raw_with_ids:,.0f} events/s, forze/raw-ids"
            f" {forze_single / measured.raw_with_ids:.2f}x."
        )
    results.note(
        "feed: everything stored (the warm-up's events too) in pages of 1,000. forze"
        " read_all (RecordedEvents, data and metadata decoded); eventsourcing"
        " select_notifications + transcoder.decode of each state (a dict, no domain object,"
        " like forze); raw decodes the same two JSON columns. raw has no command path, so its"
        " feed lacks append-command's events."
    )
    results.note(
        f"rebuild: forze's whole feed, {measured.rebuild_events:,} events, in"
        f" {measured.rebuild_batches} batch(es) of up to {FEED_PAGE:,} events,"
        f" {measured.documents_per_batch:,.0f} distinct documents per batch on average (the"
        f" feed interleaves the accounts), {measured.documents:,} documents in all; both read"
        " models were checked equal and against the plans. forze's projector keeps the"
        " documents it wrote cached between batches and reads the next page while it writes"
        " one; raw reads each page's documents back."
        " eventsourcing has no figure: it has no generic rebuild into a document read model"
        " (its ProjectionRunner drives a hand-written tracking recorder and view)."
    )
    results.note(
        f"Python {platform.python_version()}, asyncpg {package_version('asyncpg')},"
        f" eventsourcing {package_version('eventsourcing')},"
        f" psycopg {package_version('psycopg')}, pydantic {package_version('pydantic')}."
    )


def report(results: Results, *, as_json: bool) -> None:
    """The table, the notes and the targets; then (with ``as_json``) the JSON line, last."""
    rates = results.rates()
    lines = [table(results), "", "Notes:", *(f"- {n}" for n in results.notes), ""]
    lines += ["Targets (from the issue; reported, never asserted):"]
    lines += [f"- {target.verdict(rates)}" for target in TARGETS]
    print("\n".join(lines))
    if as_json:
        print(results.json_line())


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(
        "Events per second of forze's PostgreSQL adapters against the eventsourcing library's"
        " Postgres recorder and raw asyncpg.",
        default_events=DEFAULT_EVENTS,
    )
    args = parser.parse_args(argv)
    if args.events < 1:
        parser.error("--events must be at least 1")
    results = Results()
    measured, server = asyncio.run(run_all(args.events, results))
    add_notes(results, measured, server)
    report(results, as_json=args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
