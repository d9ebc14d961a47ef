"""Projection rebuild throughput: forze's batched ``Projector`` against a per-event loop.

Run ``.venv/bin/python benchmarks/projections.py [--events N] [--json]``.

Setup (not timed): a temporary SQLite file holding ``--events`` events of the bank example
(up to 1,000 accounts, each opened then given deposits and withdrawals), appended round by
round through ``SQLiteEventStore.append`` from envelopes made by ``EventCodec.encode``. Both
implementations use that file's one connection, so they run at the same durability
(``synchronous = NORMAL``, WAL).

Scenario ``rebuild`` (events per second), the bank example's ``BALANCES_PROJECTION`` (typed
handlers: each event is decoded by the account spec's codec, as the aggregates read it):

* ``forze``: ``Projector(..., batch_size=1000).rebuild("account_balances")``: pages of the
  feed, each page's read-model writes and checkpoint committed in one transaction.
* ``naive``: the same handlers, through the same ``SQLiteProjectionBackend`` stores, applied
  one event at a time, each event in its own transaction that writes the read model and saves
  the checkpoint: the usual hand-written catch-up loop. It builds version 2 of the read model
  (its own, empty table) so the two never share documents.

Both results are checked against the balances computed from the generated events, and against
each other when both covered the same events; any difference fails the run.
"""

from __future__ import annotations

import asyncio
import platform
import random
import sqlite3
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forze.contracts import ExpectedVersion, ExpectedVersionArg, NewEvent
from forze.domain import DomainEvent
from forze_eventstore import EventCodec, SQLiteDatabase, SQLiteEventStore
from forze_eventstore.sqlite_db import Synchronous
from forze_examples.bank.account import ACCOUNTS
from forze_examples.bank.events import AccountOpened, MoneyDeposited, MoneyWithdrawn
from forze_examples.bank.read_model import BALANCES, BALANCES_PROJECTION
from forze_projections import Projection, ProjectionProgress, Projector, SQLiteProjectionBackend
from forze_projections.adapter_kit import table_of

if TYPE_CHECKING:  # mypy names the file by its path; at run time benchmarks/ is sys.path[0]
    from benchmarks._harness import Results, Stopwatch, base_parser, progress
    from benchmarks._stalls import stall_ticker
else:
    from _harness import Results, Stopwatch, base_parser, progress
    from _stalls import stall_ticker

DEFAULT_EVENTS = 100_000
MAX_ACCOUNTS = 1_000
EVENTS_PER_ACCOUNT_MIN = 10
"""Fewer events than ``MAX_ACCOUNTS * 10`` use fewer accounts, so each has some history."""
APPEND_BATCH = 10
"""Events per append: each round appends up to this many events to every account in turn."""
BATCH_SIZE = 1_000
"""The projector's batch size, and the naive loop's feed page size."""
NAIVE_MAX_EVENTS = 100_000
"""The naive loop stops after this many events (its rate is per event, so stays comparable)."""
WARMUP_EVENTS = 2_000

SYNCHRONOUS: Synchronous = "NORMAL"
"""SQLite durability of the one connection both implementations write through."""

PROJECTION: Projection = BALANCES_PROJECTION
NAIVE_VERSION = PROJECTION.version + 1
"""The naive loop builds this version of the read model: its own table and checkpoint."""

SCENARIO = "rebuild"
BASELINE = "naive"
IMPLEMENTATIONS = ["forze", "naive"]

Record = Callable[[str, int, float], None]
"""Takes (implementation, events, seconds); a no-op during warm-up."""


def _skip(implementation: str, count: int, seconds: float) -> None:
    """The ``Record`` of a warm-up run: measure nothing."""


# --- the events ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Planned:
    """One event of the generated feed, in feed order."""

    account: int
    event: DomainEvent


def plan_events(total: int, seed: int = 7) -> tuple[list[str], list[list[DomainEvent]]]:
    """Account ids and each account's events: opened first, then deposits and withdrawals."""
    accounts = max(1, min(MAX_ACCOUNTS, total // EVENTS_PER_ACCOUNT_MIN))
    rng = random.Random(seed)
    ids = [f"{index:05d}{rng.getrandbits(48):012x}" for index in range(accounts)]
    base, extra = divmod(total, accounts)
    histories: list[list[DomainEvent]] = []
    for index in range(accounts):
        events: list[DomainEvent] = [
            AccountOpened(owner=f"owner {index}", overdraft_limit=rng.randrange(0, 50_000))
        ]
        for _ in range(base + (index < extra) - 1):
            if rng.random() < 0.7:
                events.append(MoneyDeposited(amount=rng.randrange(100, 10_000)))
            else:
                events.append(MoneyWithdrawn(amount=rng.randrange(50, 5_000)))
        histories.append(events)
    return ids, histories


def feed_order(histories: list[list[DomainEvent]]) -> list[Planned]:
    """The events in the order :func:`append_events` stores them (their feed order)."""
    feed: list[Planned] = []
    longest = max(len(events) for events in histories)
    for start in range(0, longest, APPEND_BATCH):
        for account, events in enumerate(histories):
            feed += [Planned(account, e) for e in events[start : start + APPEND_BATCH]]
    return feed


async def append_events(
    db: SQLiteDatabase, store: SQLiteEventStore, ids: list[str], histories: list[list[DomainEvent]]
) -> int:
    """Store every history, ``APPEND_BATCH`` events per append, accounts interleaved by round.

    Each round's appends share one transaction (the store's joins it), to keep the setup quick.
    """
    codec = EventCodec.for_specs(ACCOUNTS)
    metadata = {"occurred_at": datetime.now(UTC).isoformat()}
    streams = [ACCOUNTS.stream_id(account_id) for account_id in ids]
    longest = max(len(events) for events in histories)
    stored = 0
    for start in range(0, longest, APPEND_BATCH):
        async with db.transaction():
            for stream_id, events in zip(streams, histories, strict=True):
                chunk: Sequence[DomainEvent] = events[start : start + APPEND_BATCH]
                if not chunk:
                    continue
                expected: ExpectedVersionArg = start or ExpectedVersion.NO_STREAM
                new_events: list[NewEvent] = [codec.encode(e, metadata) for e in chunk]
                result = await store.append(stream_id, new_events, expected)
                stored = result.position
    return stored


def expected_documents(
    ids: list[str], feed: list[Planned], count: int
) -> dict[str, dict[str, Any]]:
    """The balances documents after the first ``count`` events of the feed, computed directly."""
    documents: dict[str, dict[str, Any]] = {}
    versions = [0] * len(ids)
    for planned in feed[:count]:
        versions[planned.account] += 1
        account_id = ids[planned.account]
        match planned.event:
            case AccountOpened(owner=owner):
                documents[account_id] = {
                    "account_id": account_id,
                    "owner": owner,
                    "balance": 0,
                    "transactions": 0,
                    "version": 1,
                }
            case MoneyDeposited(amount=amount) | MoneyWithdrawn(amount=amount):
                document = documents[account_id]
                sign = 1 if isinstance(planned.event, MoneyDeposited) else -1
                document["balance"] += sign * amount
                document["transactions"] += 1
                document["version"] = versions[planned.account]
    return documents


# --- the two implementations ---------------------------------------------------------------


async def forze_rebuild(
    projector: Projector, batches: list[ProjectionProgress], total: int, record: Record
) -> int:
    """``Projector.rebuild`` of the balances; returns the number of batches it committed.

    ``batches`` is where the projector's ``on_progress`` puts a report after every batch.
    """
    with Stopwatch() as watch:
        status = await projector.rebuild(PROJECTION.name)
    if status.checkpoint != status.head or status.error is not None:
        raise RuntimeError(f"forze rebuild stopped early: {status}")
    handled = batches[-1].handled if batches else 0
    if handled != total:
        raise RuntimeError(f"forze rebuild handled {handled} events, expected {total}")
    record("forze", handled, watch.seconds)
    return len(batches)


async def naive_rebuild(
    store: SQLiteEventStore, backend: SQLiteProjectionBackend, limit: int, record: Record
) -> int:
    """The same handlers and stores, one transaction per event, for the first ``limit`` events.

    Returns the checkpoint it reached. The projector has claimed the read model for the
    projection's name already, so the backend lets this loop write its other version.
    """
    db, checkpoints = backend.db, backend.checkpoints
    checkpoint = f"{PROJECTION.name}@v{NAIVE_VERSION}"
    async with db.transaction():
        await checkpoints.reset(checkpoint)
        await backend.drop(PROJECTION.name, NAIVE_VERSION)
    stores = backend.writer(PROJECTION.name, NAIVE_VERSION)
    event_types = PROJECTION.event_types
    handle = PROJECTION.handle

    handled = 0
    with Stopwatch() as watch:
        position = await checkpoints.load(checkpoint)
        while handled < limit:
            page = await store.read_all(
                after=position, limit=min(BATCH_SIZE, limit - handled), event_types=event_types
            )
            if not page:
                break
            for event in page:
                async with db.transaction():
                    await handle(event, stores)
                    await checkpoints.save(checkpoint, event.position)
            handled += len(page)
            position = page[-1].position
    if handled != limit:
        raise RuntimeError(f"naive loop handled {handled} events, expected {limit}")
    record("naive", handled, watch.seconds)
    return position


# --- checks --------------------------------------------------------------------------------


async def documents_of(
    backend: SQLiteProjectionBackend, version: int, ids: list[str]
) -> dict[str, dict[str, Any]]:
    """Every balances document of ``version``, read back through its read-model store."""
    read_model = backend.store(BALANCES, version)
    found = await read_model.get_many(ids)
    count = await read_model.count()
    if count != len(found):
        raise RuntimeError(f"version {version}: {count} documents, {len(found)} of known accounts")
    return {document.account_id: document.model_dump(mode="json") for document in found}


def compare(what: str, got: dict[str, dict[str, Any]], wanted: dict[str, dict[str, Any]]) -> None:
    """Raise, naming a few differing accounts, unless the two sets of documents are equal."""
    if got == wanted:
        return
    keys = sorted(set(got) | set(wanted))
    differing = [key for key in keys if got.get(key) != wanted.get(key)]
    examples = "; ".join(
        f"{key}: got {got.get(key)}, expected {wanted.get(key)}" for key in differing[:3]
    )
    raise RuntimeError(
        f"{what}: {len(differing)} of {len(keys)} documents differ"
        f" ({len(got)} vs {len(wanted)} documents). {examples}"
    )


# --- the run -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Run:
    """What a measured run did, for the notes."""

    events: int
    accounts: int
    naive_events: int
    forze_batches: int
    forze_stalls: str
    """How long the event loop served no other task during forze's rebuild."""
    synchronous: str
    journal_mode: str


async def run(folder: Path, total: int, naive_limit: int, record: Record) -> Run:
    """Set up a file of ``total`` events, rebuild with both implementations, check the results."""
    ids, histories = plan_events(total)
    feed = feed_order(histories)
    db = SQLiteDatabase(folder / "events.sqlite", synchronous=SYNCHRONOUS)
    try:
        store = SQLiteEventStore(db)
        backend = SQLiteProjectionBackend(db)
        stored = await append_events(db, store, ids, histories)
        if stored != total or len(feed) != total:
            raise RuntimeError(f"setup stored {stored} events, expected {total}")
        synchronous = int(db.connection.execute("PRAGMA synchronous").fetchone()[0])
        journal_mode = str(db.connection.execute("PRAGMA journal_mode").fetchone()[0])

        progressed: list[ProjectionProgress] = []
        projector = Projector(
            store, backend, [PROJECTION], batch_size=BATCH_SIZE, on_progress=progressed.append
        )
        async with stall_ticker() as stalls:
            batches = await forze_rebuild(projector, progressed, total, record)
        naive_events = min(total, naive_limit)
        await naive_rebuild(store, backend, naive_events, record)

        forze_documents = await documents_of(backend, PROJECTION.version, ids)
        naive_documents = await documents_of(backend, NAIVE_VERSION, ids)
        compare("forze", forze_documents, expected_documents(ids, feed, total))
        if naive_events == total:
            compare("naive against forze", naive_documents, forze_documents)
        else:
            compare("naive", naive_documents, expected_documents(ids, feed, naive_events))
        if table_of(BALANCES, PROJECTION.version) == table_of(BALANCES, NAIVE_VERSION):
            raise RuntimeError("the two implementations wrote the same table")
        return Run(
            events=total,
            accounts=len(ids),
            naive_events=naive_events,
            forze_batches=batches,
            forze_stalls=stalls.shown(),
            synchronous=_SYNC_NAMES.get(synchronous, str(synchronous)),
            journal_mode=journal_mode,
        )
    finally:
        db.close()


_SYNC_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(
        "Events per second of a projection rebuild: forze's batched Projector against a"
        " per-event transaction loop.",
        default_events=DEFAULT_EVENTS,
    )
    args = parser.parse_args(argv)
    if args.events < 1:
        parser.error("--events must be at least 1")
    results = Results()

    def record(implementation: str, count: int, seconds: float) -> None:
        results.add(SCENARIO, implementation, count, seconds)

    with tempfile.TemporaryDirectory(prefix="forze-bench-") as tmp:
        folder = Path(tmp)
        progress("warm-up")
        (folder / "warmup").mkdir()
        warmup = min(args.events, WARMUP_EVENTS)
        asyncio.run(run(folder / "warmup", warmup, warmup, _skip))
        progress(f"measuring: {args.events:,} events")
        (folder / "main").mkdir()
        measured = asyncio.run(run(folder / "main", args.events, NAIVE_MAX_EVENTS, record))

    add_notes(results, measured, folder)
    results.print(
        BASELINE,
        as_json=args.json,
        scenario_order=[SCENARIO],
        implementation_order=IMPLEMENTATIONS,
    )
    return 0


def add_notes(results: Results, measured: Run, folder: Path) -> None:
    per_account = measured.events / measured.accounts
    results.note(
        f"{measured.events:,} events of the bank example ({measured.accounts:,} accounts,"
        f" ~{per_account:,.0f} events each: AccountOpened, then MoneyDeposited/MoneyWithdrawn),"
        f" all handled by {PROJECTION.name} v{PROJECTION.version}. One timed run each after a"
        f" warm-up of {min(measured.events, WARMUP_EVENTS):,} events on another file."
    )
    results.note(
        f"SQLite durability: synchronous={measured.synchronous},"
        f" journal_mode={measured.journal_mode}, for both (they share one connection)."
    )
    results.note(
        f"forze: Projector.rebuild with batch_size={BATCH_SIZE:,}: {measured.forze_batches}"
        " batch transaction(s), each one batch's read-model writes plus its checkpoint."
    )
    results.note(
        "Event loop stalls during forze's rebuild (a task sleeping 1 ms in a loop; how late it"
        f" woke): {measured.forze_stalls}. Its reads and NORMAL commits run on the loop's"
        " thread, and it lets the loop turn every millisecond or so."
    )
    naive_scope = (
        "every event"
        if measured.naive_events == measured.events
        else f"the first {measured.naive_events:,} events of the feed (events/s stays"
        " comparable: its cost is per event)"
    )
    results.note(
        f"naive: {naive_scope}, one transaction per event (handler + checkpoint save),"
        f" feed read in pages of {BATCH_SIZE:,}; same handlers, SQLiteProjectionBackend stores"
        f" and checkpoint store, into version {NAIVE_VERSION}'s own table."
    )
    results.note(
        "Both read models were checked document by document against balances computed from"
        " the generated events"
        + (" and against each other." if measured.naive_events == measured.events else ".")
    )
    results.note(
        f"SQLite files in {folder.parent} (set TMPDIR to move them). Python"
        f" {platform.python_version()}, SQLite {sqlite3.sqlite_version},"
        f" pydantic {package_version('pydantic')}."
    )


if __name__ == "__main__":
    raise SystemExit(main())
