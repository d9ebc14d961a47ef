"""Moving an eventsourcing application's events: eventsourcing's recorders vs forze's import.

Run ``.venv/bin/python benchmarks/eventsourcing_import.py [--events N] [--json]``. The
server is the one of ``FORZE_TEST_POSTGRES_DSN`` (an administrative DSN; default
``postgresql://postgres@127.0.0.1:5432/postgres``): the run creates a throwaway database
there and drops it at the end.

Setup (not timed): ``--events`` stored events of an application ``Bank`` (accounts of 10
events each, in the order they would have been saved: one ``insert_events`` call per 100
events, interleaving the accounts) in eventsourcing's own PostgreSQL application recorder,
table ``es_source.bank_events``.

Scenario ``copy N events`` (events per second), each implementation into an empty target in
the same database:

* ``eventsourcing recorders`` (the baseline): what a user writes with eventsourcing's API:
  ``select_notifications`` 1,000 at a time from the source recorder, ``insert_events`` of
  each page into a new ``PostgresApplicationRecorder`` (schema ``es_copy``).
* ``forze import``: ``forze_eventsourcing.import_eventsourcing`` (what ``forze import
  eventsourcing`` runs) into a ``PostgresEventStore`` (schema ``forze_copy``), 1,000 events
  per ``append_many``, each batch with its progress event.

Afterwards both targets are read back and the run fails (exit status 1) unless each holds
every event, in order, with its originator, version, topic and state.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

from forze_eventsourcing import import_eventsourcing
from forze_postgres import PostgresDatabase, PostgresEventStore

if TYPE_CHECKING:  # mypy names the file by its path; at run time benchmarks/ is sys.path[0]
    from benchmarks._harness import Results, Stopwatch, base_parser, progress
    from benchmarks._postgres_db import sql, throwaway_database
else:
    from _harness import Results, Stopwatch, base_parser, progress
    from _postgres_db import sql, throwaway_database

DEFAULT_EVENTS = 50_000
PER_ACCOUNT = 10
PAGE = 1_000
EVENTSOURCING = "eventsourcing recorders"
FORZE = "forze import"
SOURCE, ES_COPY, FORZE_COPY = "es_source", "es_copy", "forze_copy"

Row = tuple[str, int, str, bytes]
"""An event as compared: originator id, version, topic, state."""


def datastore(dsn: str, schema: str) -> PostgresDatastore:
    """eventsourcing's PostgreSQL datastore on ``dsn``, in ``schema``."""
    parts = urlsplit(dsn)
    return PostgresDatastore(
        dbname=unquote(parts.path.lstrip("/")),
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        schema=schema,
    )


def recorder(store: PostgresDatastore) -> PostgresApplicationRecorder:
    """The application recorder of ``Bank`` (table ``bank_events``), its table created."""
    made = PostgresApplicationRecorder(store, events_table_name="bank_events")
    made.create_table()
    return made


def fill(source: PostgresApplicationRecorder, events: int) -> list[Row]:
    """Store ``events`` events of ``events // PER_ACCOUNT`` accounts, interleaved."""
    accounts = [uuid.uuid4() for _ in range(max(1, events // PER_ACCOUNT))]
    rows: list[Row] = []
    batch: list[StoredEvent] = []
    for index in range(events):
        account = accounts[index % len(accounts)]
        version = index // len(accounts) + 1
        topic = "bank:Account.Opened" if version == 1 else "bank:Account.Deposited"
        state = f'{{"amount": {index % 97}, "timestamp": "2026-12-06T00:00:00"}}'.encode()
        batch.append(StoredEvent(account, version, topic, state))
        rows.append((str(account), version, topic, state))
        if len(batch) == 100:
            source.insert_events(batch)
            batch = []
    if batch:
        source.insert_events(batch)
    return rows


def copy_with_recorders(
    source: PostgresApplicationRecorder, target: PostgresApplicationRecorder
) -> int:
    """The baseline: pages of notifications inserted into another recorder."""
    copied, start = 0, None
    while page := source.select_notifications(start, PAGE, inclusive_of_start=False):
        target.insert_events(
            [StoredEvent(n.originator_id, n.originator_version, n.topic, n.state) for n in page]
        )
        copied += len(page)
        start = page[-1].id
    return copied


def rows_of(found: PostgresApplicationRecorder) -> list[Row]:
    page = found.select_notifications(None, 10_000_000)
    return [(str(n.originator_id), n.originator_version, n.topic, n.state) for n in page]


async def import_with_forze(dsn: str) -> tuple[int, float]:
    """forze's import into a fresh store; its events and the seconds it took."""
    db = await PostgresDatabase.connect(dsn, schema=FORZE_COPY)
    store = PostgresEventStore(db)
    try:
        await store.migrate()
        with Stopwatch() as watch:
            report = await import_eventsourcing(
                dsn, store, table=f"{SOURCE}.bank_events", batch_events=PAGE
            )
        return report.imported, watch.seconds
    finally:
        await store.close()
        await db.close()


async def forze_rows(dsn: str) -> list[Row]:
    import base64

    db = await PostgresDatabase.connect(dsn, schema=FORZE_COPY)
    store = PostgresEventStore(db)
    try:
        events = await store.read_all(categories=["bank_events"], limit=10_000_000)
        return [
            (
                e.stream_id.partition("-")[2],
                int(e.metadata["originator_version"]),
                e.event_type,
                base64.b64decode(e.data["state"]),
            )
            for e in events
        ]
    finally:
        await store.close()
        await db.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0], default_events=DEFAULT_EVENTS)
    args = parser.parse_args(argv)
    events = int(args.events)
    results = Results(unit="events/s")
    scenario = f"copy {events:,} events"
    problems: list[str] = []
    with throwaway_database("forze_es_import") as dsn:
        for schema in (SOURCE, ES_COPY):
            sql(dsn, f'CREATE SCHEMA "{schema}"')
        stores = [datastore(dsn, SOURCE), datastore(dsn, ES_COPY)]
        try:
            source, copy = recorder(stores[0]), recorder(stores[1])
            progress(f"setup: {events:,} events in eventsourcing's recorder")
            expected = fill(source, events)
            progress("measuring: eventsourcing's recorders")
            with Stopwatch() as watch:
                copied = copy_with_recorders(source, copy)
            results.add(scenario, EVENTSOURCING, copied, watch.seconds)
            progress("measuring: forze's import")
            imported, seconds = asyncio.run(import_with_forze(dsn))
            results.add(scenario, FORZE, imported, seconds)
            if rows_of(copy) != expected:
                problems.append(f"{EVENTSOURCING}: the copy differs from the source")
            if asyncio.run(forze_rows(dsn)) != expected:
                problems.append(f"{FORZE}: the copy differs from the source")
        finally:
            for store in stores:
                store.close()

    results.note(
        f"{events:,} events of {max(1, events // PER_ACCOUNT):,} accounts, {PAGE:,} per"
        " page or batch; both copies into empty targets of the same database"
    )
    if problems:
        results.note("CHECK FAILED: a copy does not hold the source's events")
    else:
        results.note("check: both copies hold every event in order, state included")
    results.print(
        EVENTSOURCING,
        as_json=bool(args.json),
        scenario_order=[scenario],
        implementation_order=[EVENTSOURCING, FORZE],
    )
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
