"""Event-store throughput: forze against the ``eventsourcing`` library, in one process.

Run ``.venv/bin/python benchmarks/eventstore.py [--events N] [--json]``.

Scenarios (events per second; ``--events`` is the total per scenario, 10 per aggregate):

* ``append``: the command path. Every aggregate is created with one event, then gets nine more
  events one command at a time (load, call a method, save: one append with an expected version
  and one commit per event), aggregates interleaved round by round.
* ``append-raw`` (forze only): the same events through ``EventStore.append`` directly, prebuilt
  ``NewEvent``s, one per call with its expected version: the store's own speed.
* ``append-16`` (forze only): the command path again, by 16 tasks at once, each on its own
  aggregates, as a server's concurrent requests would: SQLite commits the writes that wait
  for its writer together.
* ``load``: every aggregate's full history replayed into an aggregate object.
* ``feed``: the whole global feed read from position 0 in pages of 1000.

During the append scenarios a ticker task sleeps 1 ms in a loop and records how late it wakes
up: the run prints the event loop's worst and 99th-percentile stall, which shows whether the
store's commits (fsync) block the loop that every other task of the process shares.

Last, the run measures the thread hand-off floor (``_sqlite_handoff``): what moving a bare
``FULL`` commit off the loop's thread costs on this machine, with no forze code. It bounds the
``append`` and ``append-raw`` speed of a task appending alone against a store whose syncs
block the loop.

Implementations: ``forze-sqlite`` and ``forze-memory`` (``SQLiteEventStore`` on a temporary
file and ``InMemoryEventStore``, through ``EventSourcedRepository``), and the baselines
``eventsourcing-sqlite`` and ``eventsourcing-memory`` (an eventsourcing 9 ``Application`` with
``eventsourcing.sqlite`` on a temporary file, and POPO persistence).
"""

from __future__ import annotations

import asyncio
import platform
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate as EsAggregate
from eventsourcing.domain import event

from forze.contracts import EventStore, ExpectedVersion, ExpectedVersionArg, NewEvent
from forze.domain import Aggregate, AggregateSpec, DomainError, DomainEvent, EventType
from forze_eventstore import EventSourcedRepository, InMemoryEventStore, SQLiteEventStore
from forze_eventstore.adapter_kit import SCHEMA_VERSION_KEY
from forze_eventstore.sqlite_db import Synchronous

if TYPE_CHECKING:  # mypy names the file by its path; at run time benchmarks/ is sys.path[0]
    from benchmarks._harness import Results, Stopwatch, base_parser, progress
    from benchmarks._sqlite_handoff import handoff_floor
    from benchmarks._stalls import Stalls, stall_ticker
else:
    from _harness import Results, Stopwatch, base_parser, progress
    from _sqlite_handoff import handoff_floor
    from _stalls import Stalls, stall_ticker

EVENTS_PER_AGGREGATE = 10
FEED_PAGE = 1000
WARMUP_AGGREGATES = 20
DEFAULT_EVENTS = 20_000

SYNCHRONOUS: Synchronous = "FULL"
"""forze's SQLite durability. eventsourcing 9.5 has no setting for ``PRAGMA synchronous`` (its
connections keep SQLite's compiled default, FULL on common builds), so forze keeps its own
default FULL too: both sides then sync the WAL on every commit. The run checks both connections
and says so in the notes if they differ."""

BASELINE = "eventsourcing-sqlite"
SCENARIOS = ["append", "append-raw", "append-16", "load", "feed", "feed-encoded"]
WRITERS = 16
"""Tasks appending at once in ``append-16``."""
IMPLEMENTATIONS = ["forze-sqlite", "eventsourcing-sqlite", "forze-memory", "eventsourcing-memory"]

Record = Callable[[str, int, float], None]
"""Takes (scenario, events, seconds); a no-op during warm-up."""


def _skip(scenario: str, count: int, seconds: float) -> None:
    """The ``Record`` of a warm-up run: measure nothing."""


def _check(what: str, got: int, wanted: int) -> None:
    if got != wanted:
        raise RuntimeError(f"{what}: expected {wanted} events, got {got}")


# --- forze ---------------------------------------------------------------------------------


class Opened(DomainEvent):
    owner: str


class Deposited(DomainEvent):
    amount: int


AccountEvent = Opened | Deposited


class Account(Aggregate[AccountEvent]):
    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.owner = ""
        self.balance = 0

    def open(self, owner: str) -> None:
        if self.owner:
            raise DomainError("the account is already open")
        self.emit(Opened(owner=owner))

    def deposit(self, amount: int) -> None:
        if amount <= 0:
            raise DomainError("a deposit must be positive")
        self.emit(Deposited(amount=amount))

    def apply(self, event: AccountEvent) -> None:
        match event:
            case Opened(owner=owner):
                self.owner = owner
            case Deposited(amount=amount):
                self.balance += amount


ACCOUNTS = AggregateSpec(
    "account",
    Account,
    (EventType("account.opened", Opened), EventType("account.deposited", Deposited)),
)

OpenStore = Callable[[str], AbstractContextManager[EventStore]]
"""Opens a fresh, empty store for a tag (``"main"``, ``"raw"``, ``"warmup"``...)."""


def forze_sqlite(folder: Path) -> OpenStore:
    @contextmanager
    def open_store(tag: str) -> Iterator[EventStore]:
        store = SQLiteEventStore(folder / f"forze-{tag}.sqlite", synchronous=SYNCHRONOUS)
        try:
            yield store
        finally:
            store.close()

    return open_store


@contextmanager
def forze_memory(tag: str) -> Iterator[EventStore]:
    yield InMemoryEventStore()


async def forze_commands(repo: EventSourcedRepository[Account], ids: list[str]) -> int:
    for aggregate_id in ids:
        account = Account(aggregate_id)
        account.open("bench")
        await repo.save(account)
    for _ in range(EVENTS_PER_AGGREGATE - 1):
        for aggregate_id in ids:
            account = await repo.load(aggregate_id)
            account.deposit(1)
            await repo.save(account)
    return len(ids) * EVENTS_PER_AGGREGATE


def raw_plan(ids: list[str]) -> list[tuple[str, NewEvent, ExpectedVersionArg]]:
    """The events ``forze_commands`` stores, as envelopes shaped like the repository's."""
    metadata = {"occurred_at": datetime.now(UTC).isoformat(), SCHEMA_VERSION_KEY: 1}
    streams = [ACCOUNTS.stream_id(aggregate_id) for aggregate_id in ids]
    plan: list[tuple[str, NewEvent, ExpectedVersionArg]] = [
        (s, NewEvent("account.opened", {"owner": "bench"}, metadata), ExpectedVersion.NO_STREAM)
        for s in streams
    ]
    for version in range(1, EVENTS_PER_AGGREGATE):
        plan += [
            (s, NewEvent("account.deposited", {"amount": 1}, metadata), version) for s in streams
        ]
    return plan


async def forze_raw(store: EventStore, plan: list[tuple[str, NewEvent, ExpectedVersionArg]]) -> int:
    for stream_id, new_event, expected in plan:
        await store.append(stream_id, [new_event], expected)
    return len(plan)


async def forze_load(repo: EventSourcedRepository[Account], ids: list[str]) -> int:
    replayed = 0
    for aggregate_id in ids:
        account = await repo.load(aggregate_id)
        if account.balance != EVENTS_PER_AGGREGATE - 1:
            raise RuntimeError(f"account {aggregate_id} replayed to balance {account.balance}")
        replayed += account.version
    return replayed


async def forze_feed(store: EventStore) -> int:
    after = count = 0
    while page := await store.read_all(after=after, limit=FEED_PAGE):
        count += len(page)
        after = page[-1].position
    return count


async def forze_scenarios(
    stores: tuple[EventStore, EventStore, EventStore], aggregates: int, record: Record
) -> dict[str, Stalls]:
    """Run the scenarios on the main, raw and concurrent stores (each starts empty)."""
    store, raw_store, concurrent_store = stores
    ids = [uuid4().hex for _ in range(aggregates)]
    total = aggregates * EVENTS_PER_AGGREGATE
    repo = EventSourcedRepository(ACCOUNTS, store)

    with Stopwatch() as watch:  # collects garbage first: the ticker starts after
        async with stall_ticker() as append_stalls:
            count = await forze_commands(repo, ids)
    record("append", count, watch.seconds)

    plan = raw_plan([uuid4().hex for _ in range(aggregates)])
    with Stopwatch() as watch:
        async with stall_ticker() as raw_stalls:
            count = await forze_raw(raw_store, plan)
    record("append-raw", count, watch.seconds)

    concurrent_repo = EventSourcedRepository(ACCOUNTS, concurrent_store)
    concurrent_ids = [uuid4().hex for _ in range(aggregates)]
    with Stopwatch() as watch:
        async with stall_ticker() as concurrent_stalls:
            counts = await asyncio.gather(
                *(
                    forze_commands(concurrent_repo, concurrent_ids[n::WRITERS])
                    for n in range(WRITERS)
                )
            )
    record("append-16", sum(counts), watch.seconds)

    with Stopwatch() as watch:
        count = await forze_load(repo, ids)
    _check("forze load", count, total)
    record("load", count, watch.seconds)

    with Stopwatch() as watch:
        count = await forze_feed(store)
    _check("forze feed", count, total)
    record("feed", count, watch.seconds)
    return {"append": append_stalls, "append-raw": raw_stalls, "append-16": concurrent_stalls}


async def run_forze(
    name: str, open_store: OpenStore, aggregates: int, results: Results
) -> dict[str, Stalls]:
    """Measure ``name``; return the event loop's stalls during its append scenarios."""
    progress(f"{name}: warm-up")
    with open_store("warmup") as a, open_store("warmup-raw") as b, open_store("warmup-16") as c:
        await forze_scenarios((a, b, c), WARMUP_AGGREGATES, _skip)

    def record(scenario: str, count: int, seconds: float) -> None:
        results.add(scenario, name, count, seconds)

    progress(f"{name}: measuring")
    with open_store("main") as a, open_store("raw") as b, open_store("concurrent") as c:
        stalls = await forze_scenarios((a, b, c), aggregates, record)
    for scenario, found in stalls.items():
        progress(f"  {scenario:<12} {name:<22} event loop stalls: {found.shown()}")
    return stalls


# --- eventsourcing -------------------------------------------------------------------------


class EsAccount(EsAggregate):
    """The same account as an eventsourcing aggregate (the method body applies the event)."""

    @event("Opened")
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.balance = 0

    def deposit(self, amount: int) -> None:
        if amount <= 0:
            raise ValueError("a deposit must be positive")
        self._deposited(amount)

    @event("Deposited")
    def _deposited(self, amount: int) -> None:
        self.balance += amount


class EsBank(Application[UUID]):
    log_section_size = FEED_PAGE


def es_commands(app: EsBank, aggregates: int) -> list[UUID]:
    ids: list[UUID] = []
    for _ in range(aggregates):
        account = EsAccount(owner="bench")
        app.save(account)
        ids.append(account.id)
    for _ in range(EVENTS_PER_AGGREGATE - 1):
        for account_id in ids:
            loaded: EsAccount = app.repository.get(account_id)
            loaded.deposit(1)
            app.save(loaded)
    return ids


def es_load(app: EsBank, ids: list[UUID]) -> int:
    replayed = 0
    for account_id in ids:
        account: EsAccount = app.repository.get(account_id)
        if account.balance != EVENTS_PER_AGGREGATE - 1:
            raise RuntimeError(f"account {account_id} replayed to balance {account.balance}")
        replayed += account.version
    return replayed


def es_feed(app: EsBank, *, decode: bool) -> int:
    start = 1
    count = 0
    to_event = app.mapper.to_domain_event
    while page := app.notification_log.select(start, FEED_PAGE):
        if decode:
            for notification in page:
                to_event(notification)
        count += len(page)
        start = page[-1].id + 1
    return count


def es_scenarios(app: EsBank, aggregates: int, record: Record) -> None:
    total = aggregates * EVENTS_PER_AGGREGATE

    with Stopwatch() as watch:
        ids = es_commands(app, aggregates)
    record("append", total, watch.seconds)

    with Stopwatch() as watch:
        count = es_load(app, ids)
    _check("eventsourcing load", count, total)
    record("load", count, watch.seconds)

    with Stopwatch() as watch:
        count = es_feed(app, decode=True)
    _check("eventsourcing feed", count, total)
    record("feed", count, watch.seconds)

    with Stopwatch() as watch:
        count = es_feed(app, decode=False)
    _check("eventsourcing feed", count, total)
    record("feed-encoded", count, watch.seconds)


def es_pragmas(app: EsBank) -> tuple[int, str] | None:
    """``(synchronous, journal_mode)`` of the SQLite app's connections; ``None`` for POPO."""
    datastore: Any = getattr(app.factory, "datastore", None)
    if datastore is None:
        return None
    with datastore.transaction(commit=False) as cursor:
        cursor.execute("PRAGMA synchronous")
        synchronous = int(cursor.fetchone()[0])
        cursor.execute("PRAGMA journal_mode")
        return synchronous, str(cursor.fetchone()[0])


def run_es(
    name: str, env_for: Callable[[str], dict[str, str]], aggregates: int, results: Results
) -> tuple[int, str] | None:
    progress(f"{name}: warm-up")
    app = EsBank(env=env_for("warmup"))
    try:
        es_scenarios(app, WARMUP_AGGREGATES, _skip)
    finally:
        app.close()

    def record(scenario: str, count: int, seconds: float) -> None:
        results.add(scenario, name, count, seconds)

    progress(f"{name}: measuring")
    app = EsBank(env=env_for("main"))
    try:
        es_scenarios(app, aggregates, record)
        return es_pragmas(app)
    finally:
        app.close()


# --- the run -------------------------------------------------------------------------------

_SYNC_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def forze_pragmas(folder: Path) -> tuple[int, str]:
    store = SQLiteEventStore(folder / "forze-probe.sqlite", synchronous=SYNCHRONOUS)
    try:
        connection = store.db.connection
        synchronous = int(connection.execute("PRAGMA synchronous").fetchone()[0])
        return synchronous, str(connection.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(
        "Events per second of forze's event stores against the eventsourcing library.",
        default_events=DEFAULT_EVENTS,
    )
    args = parser.parse_args(argv)
    if args.events < 1:
        parser.error("--events must be at least 1")
    aggregates = max(1, args.events // EVENTS_PER_AGGREGATE)
    results = Results()

    with tempfile.TemporaryDirectory(prefix="forze-bench-") as tmp:
        folder = Path(tmp)

        def es_sqlite_env(tag: str) -> dict[str, str]:
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(folder / f"eventsourcing-{tag}.sqlite"),
            }

        def es_memory_env(tag: str) -> dict[str, str]:
            return {"PERSISTENCE_MODULE": "eventsourcing.popo"}

        es_sqlite = run_es("eventsourcing-sqlite", es_sqlite_env, aggregates, results)
        stalls = asyncio.run(run_forze("forze-sqlite", forze_sqlite(folder), aggregates, results))
        run_es("eventsourcing-memory", es_memory_env, aggregates, results)
        asyncio.run(run_forze("forze-memory", forze_memory, aggregates, results))
        forze_sqlite_pragmas = forze_pragmas(folder)
        progress("thread hand-off floor")
        floor = asyncio.run(handoff_floor(folder, commits=min(500, max(20, args.events // 20))))

    add_notes(results, aggregates, folder, forze_sqlite_pragmas, es_sqlite)
    results.note(
        "Event loop stalls of forze-sqlite (a task sleeping 1 ms in a loop; how late it woke):"
        + "; ".join(f" {scenario} {found.shown()}" for scenario, found in stalls.items())
        + "."
    )
    results.note(f"Thread hand-off floor on this machine: {floor.shown()}.")
    results.print(
        BASELINE,
        as_json=args.json,
        scenario_order=SCENARIOS,
        implementation_order=IMPLEMENTATIONS,
    )
    return 0


def add_notes(
    results: Results,
    aggregates: int,
    folder: Path,
    forze: tuple[int, str],
    eventsourcing: tuple[int, str] | None,
) -> None:
    def shown(pragmas: tuple[int, str] | None) -> str:
        if pragmas is None:
            return "unknown"
        return f"synchronous={_SYNC_NAMES.get(pragmas[0], pragmas[0])}, journal_mode={pragmas[1]}"

    results.note(
        f"{aggregates:,} aggregates x {EVENTS_PER_AGGREGATE} events per scenario; each figure"
        f" is one timed run after a warm-up of {WARMUP_AGGREGATES} aggregates."
    )
    results.note(
        f"SQLite durability: forze {shown(forze)}; eventsourcing {shown(eventsourcing)}."
        " eventsourcing exposes no synchronous setting, so forze runs at its default FULL to"
        " match: both sync the WAL on every commit (each append is one commit)."
    )
    if eventsourcing is not None and eventsourcing != forze:
        results.note("WARNING: the two SQLite stores ran with different settings (see above).")
    results.note(
        "append: forze = EventSourcedRepository load -> method -> save; eventsourcing ="
        " repository.get -> method -> app.save (creation saves a new aggregate, no load)."
        " Both check the expected version on every append."
    )
    results.note(
        "append-raw: forze store.append of prebuilt NewEvents; eventsourcing has no matching"
        " row, so no ratio."
    )
    results.note(
        f"append-16: the append scenario by {WRITERS} asyncio tasks at once, each on its own"
        " aggregates; eventsourcing's Application is synchronous, so no ratio."
    )
    results.note(
        "feed: every event of the global feed in pages of 1000, decoded so a consumer can use"
        " it: forze read_all yields RecordedEvents with data and metadata JSON-decoded;"
        " eventsourcing notification_log.select + mapper.to_domain_event per notification."
        " feed-encoded: eventsourcing's select alone, state left as encoded bytes; forze has"
        " no undecoded read, so that row has no forze figure. forze-memory's feed slices its"
        " list of stored, immutable RecordedEvents, so it copies and decodes nothing."
    )
    results.note(
        f"SQLite files in {folder.parent} (set TMPDIR to move them). Python"
        f" {platform.python_version()}, SQLite {sqlite3.sqlite_version},"
        f" eventsourcing {package_version('eventsourcing')},"
        f" pydantic {package_version('pydantic')}."
    )


if __name__ == "__main__":
    raise SystemExit(main())
