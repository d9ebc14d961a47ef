"""MongoDB throughput beside PostgreSQL's, in the same run.

Run ``.venv/bin/python benchmarks/mongo.py [--events N] [--json]``. The Mongo server is the
one of ``FORZE_TEST_MONGO_URL`` (default: the local server ``make test`` starts, the nx-27017
emulator on 127.0.0.1:27017, see docs/mongo.md); PostgreSQL is the one of
``FORZE_TEST_POSTGRES_DSN``. Each store gets a throwaway database (Mongo) or schema
(PostgreSQL), dropped at the end. The baseline of each ratio is ``postgres``.

Scenarios (events per second; ``--events`` events per write scenario, 10 per stream):

* ``append-1w``: one writer, one event per append with its expected version.
* ``append-8w``: 8 concurrent writers, each on its own streams.
* ``replay``: every stream of ``append-1w`` read whole (``read_stream``).
* ``feed``: everything stored, in pages of 1000 (``read_all``).
* ``rebuild``: a balance projection (one document per stream: count and total) rebuilt
  over the whole feed with ``Projector(batch_size=1000).rebuild`` on the store's own
  projection backend (``MongoProjectionBackend``, ``PostgresProjectionBackend``); the
  documents are checked against the plan afterwards.

``mongo-raw`` does the same with bare driver calls on the same server, as the floor the
adapter pays on top of: one ``insert_one`` per event (no version check, no reservation),
one ``find`` per stream, and keyset pages of ``find`` by ``_id``.

The emulator is a Python server on SQLite, not MongoDB: its figures say what the adapter
costs in round trips here, not what a MongoDB server would do. Every figure is one timed run
after a warm-up of the same scenario.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from forze.contracts import EventStore, NewEvent, ReadModelSpec, ReadModelStores, RecordedEvent
from forze_mongo import MongoDatabase, MongoEventStore, MongoProjectionBackend
from forze_postgres import PostgresDatabase, PostgresEventStore, PostgresProjectionBackend
from forze_projections import Projection, ProjectionBackend, Projector

if TYPE_CHECKING:  # mypy names the file by its path; at run time benchmarks/ is sys.path[0]
    from benchmarks._harness import Results, Stopwatch, base_parser, progress
else:
    from _harness import Results, Stopwatch, base_parser, progress

MONGO_URL = os.environ.get(
    "FORZE_TEST_MONGO_URL", "mongodb://127.0.0.1:27017/?directConnection=true"
)
POSTGRES_DSN = os.environ.get(
    "FORZE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
WRITERS = 8
PER_STREAM = 10


def plan(events: int, prefix: str) -> list[list[NewEvent]]:
    """Streams of ``PER_STREAM`` deposits, enough for ``events`` events."""
    return [
        [NewEvent("MoneyDeposited", {"amount": n, "stream": s}) for n in range(PER_STREAM)]
        for s in range(max(1, events // PER_STREAM))
    ]


async def append_rounds(store: EventStore, prefix: str, streams: Sequence[list[NewEvent]]) -> int:
    """One event per append, streams interleaved round by round, expected versions given."""
    for version in range(PER_STREAM):
        for index, events in enumerate(streams):
            await store.append(f"{prefix}-{index}", [events[version]], version)
    return len(streams) * PER_STREAM


async def measure(name: str, store: EventStore, events: int, results: Results) -> None:
    """Every scenario on one store."""
    run = uuid.uuid4().hex[:6]
    for label, warm in (("warm", True), ("timed", False)):
        progress(f"{name}: {label} run")
        streams = plan(events if not warm else max(100, events // 10), f"a{run}{label}")
        with Stopwatch() as clock:
            count = await append_rounds(store, f"a{run}{label}", streams)
        if not warm:
            results.add("append-1w", name, count, clock.seconds)
        shares = [plan(events // WRITERS, "") for _ in range(WRITERS)]
        if warm:
            shares = [share[: max(1, len(share) // 10)] for share in shares]
        with Stopwatch() as clock:
            counts = await asyncio.gather(
                *(
                    append_rounds(store, f"w{run}{label}{w}", share)
                    for w, share in enumerate(shares)
                )
            )
        if not warm:
            results.add("append-8w", name, sum(counts), clock.seconds)
        with Stopwatch() as clock:
            read = 0
            for index in range(len(streams)):
                read += len(await store.read_stream(f"a{run}{label}-{index}"))
        if not warm:
            results.add("replay", name, read, clock.seconds)
        with Stopwatch() as clock:
            after = total = 0
            while page := await store.read_all(after=after, limit=1000):
                total += len(page)
                after = page[-1].position
        if not warm:
            results.add("feed", name, total, clock.seconds)


class Balance(BaseModel):
    """One stream's deposits."""

    id: str
    count: int = 0
    total: int = 0


BALANCES = ReadModelSpec(name="bench_balances", model=Balance)


async def _deposited(event: RecordedEvent, stores: ReadModelStores) -> None:
    store = stores(BALANCES)
    current = await store.get(event.stream_id) or Balance(id=event.stream_id)
    amount = int(event.data["amount"])
    await store.upsert(
        Balance(id=event.stream_id, count=current.count + 1, total=current.total + amount)
    )


PROJECTION = Projection("bench_balances", 1, {"MoneyDeposited": _deposited}, (BALANCES,))


async def rebuild(
    name: str, store: EventStore, backend: ProjectionBackend, results: Results, *, timed: bool
) -> None:
    """Rebuild the balances over the whole feed, then check one stream's document."""
    projector = Projector(store, backend, (PROJECTION,), batch_size=1000)
    total = await store.count_events()
    with Stopwatch() as clock:
        status = await projector.rebuild(PROJECTION.name)
    assert status.error is None, status.error
    some = (await store.read_all(limit=1))[0]
    balance = await backend.serving()(BALANCES).get(some.stream_id)
    assert balance is not None
    assert balance.count == PER_STREAM, balance
    if timed:
        results.add("rebuild", name, total, clock.seconds)


class RawMongo:
    """Bare driver calls with the event store's document shape (the floor to compare)."""

    def __init__(self, db: MongoDatabase) -> None:
        self.events = db.collection("raw_events")
        self.position = 0

    async def append(self, stream_id: str, events: Sequence[NewEvent], version: int) -> None:
        """One ``insert_one`` per event."""
        for offset, event in enumerate(events, 1):
            self.position += 1
            await self.events.insert_one(
                {
                    "_id": self.position,
                    "stream_id": stream_id,
                    "version": version + offset,
                    "event_id": str(event.event_id),
                    "event_type": event.event_type,
                    "data": json.dumps(event.data),
                }
            )

    async def read_stream(self, stream_id: str) -> list[Any]:
        """One ``find`` in version order, data decoded."""
        found = await self.events.find({"stream_id": stream_id}).sort("version", 1).to_list()
        return [json.loads(doc["data"]) for doc in found]

    async def read_all(self, *, after: int, limit: int) -> list[Any]:
        """A keyset page by ``_id``."""
        found = self.events.find({"_id": {"$gt": after}}).sort("_id", 1).limit(limit)
        return [_Row(doc["_id"], json.loads(doc["data"])) for doc in await found.to_list()]


@dataclass(frozen=True, slots=True)
class _Row:
    position: int
    data: Any


async def run(events: int, results: Results) -> None:
    """Mongo first, then PostgreSQL, on throwaway databases."""
    mongo = MongoDatabase.connect(MONGO_URL, database=f"forze_bench_{uuid.uuid4().hex[:8]}")
    try:
        store = MongoEventStore(mongo)
        await store.migrate()
        await measure("mongo", store, events, results)
        backend = MongoProjectionBackend(mongo)
        await rebuild("mongo", store, backend, results, timed=False)
        await rebuild("mongo", store, backend, results, timed=True)
        await store.close()
        await measure("mongo-raw", RawMongo(mongo), events, results)  # type: ignore[arg-type]
    finally:
        await mongo.client.drop_database(mongo.name)
        await mongo.close()
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    pg = await PostgresDatabase.connect(POSTGRES_DSN, schema=schema, max_size=WRITERS)
    try:
        postgres = PostgresEventStore(pg)
        await postgres.migrate()
        await measure("postgres", postgres, events, results)
        on_postgres = PostgresProjectionBackend(pg)
        await rebuild("postgres", postgres, on_postgres, results, timed=False)
        await rebuild("postgres", postgres, on_postgres, results, timed=True)
        await postgres.close()
    finally:
        async with pg.connection() as connection:
            await connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await pg.close()


def main(argv: list[str] | None = None) -> int:
    """Run every scenario and print the table."""
    parser = base_parser(__doc__ or "", default_events=4000)
    options = parser.parse_args(argv)
    results = Results()
    asyncio.run(run(options.events, results))
    results.note(f"Mongo server: {MONGO_URL} (nx-27017 unless FORZE_TEST_MONGO_URL is set)")
    results.print(
        "postgres",
        as_json=options.json,
        scenario_order=("append-1w", "append-8w", "replay", "feed", "rebuild"),
        implementation_order=("postgres", "mongo", "mongo-raw"),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
