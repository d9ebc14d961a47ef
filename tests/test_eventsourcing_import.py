"""``forze import eventsourcing``: an ``eventsourcing`` application's database copied into
forze stores, as a user runs it: the application then runs unchanged on the copy, a killed
import finishes when run again, and bad input is refused with the target untouched."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import asyncpg
import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore
from eventsourcing.tests.application import BankAccounts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forze import Aggregate, AggregateSpec, DomainEvent, EventType
from forze.domain.errors import InvalidInputError
from forze_cli import main
from forze_eventsourcing import ForzeApplicationRecorder, ForzeFactory
from forze_eventsourcing.importing import IMPORT_CATEGORY, import_eventsourcing
from forze_eventstore import InMemoryEventStore, SQLiteEventStore
from tests.cli_stores_support import StoreCase, sqlite_case, store_case

FORZE = str(Path(sys.executable).parent / "forze")


class Noted(DomainEvent):
    """An event class whose type name is an eventsourcing topic (for the report)."""


class _Notes(Aggregate[Any]):
    def apply(self, event: DomainEvent) -> None:
        """Nothing to fold."""


SPECS = AggregateSpec(
    name="notes",
    factory=_Notes,
    events=(EventType("eventsourcing.tests.domain:BankAccount.Opened", Noted),),
)
"""A spec declaring one of BankAccounts' topics as a forze event type."""


def _bank_env(store: StoreCase) -> dict[str, str]:
    """The environment that runs an eventsourcing application on ``store``."""
    env = {"PERSISTENCE_MODULE": "forze_eventsourcing"}
    if store.kind == "sqlite":
        env["FORZE_STORE"] = f"sqlite:///{store.notes['path']}"
    elif store.kind == "mongodb":
        env["FORZE_STORE"] = store.notes["url"]
    else:
        env.update(FORZE_STORE=store.notes["dsn"], FORZE_SCHEMA=store.notes["schema"])
    return env


def _fill_bank(bank: BankAccounts, accounts: int) -> list[UUID]:
    ids = [bank.open_account(f"name {n}", f"{n}@example.com") for n in range(accounts)]
    for n, account in enumerate(ids):
        for credit in range(n % 5):
            bank.credit_account(account, Decimal(credit + 1))
    return ids


def _log(app: Application[Any]) -> list[tuple[Any, int, str]]:
    """The application's notification log: originator, version and topic, in order."""
    found = app.recorder.select_notifications(None, 10_000)
    return [(n.originator_id, n.originator_version, n.topic) for n in found]


def _state(bank: BankAccounts, ids: list[UUID]) -> list[tuple[Decimal, int]]:
    return [(bank.get_balance(i), bank.get_account(i).version) for i in ids]


@pytest.fixture(params=["sqlite", "postgresql", "mongodb"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreCase]:
    """An empty forze store of each kind."""
    dsn = partial(request.getfixturevalue, "postgres_dsn")
    with store_case(request.param, tmp_path, dsn) as case:
        yield case


def test_an_imported_bank_runs_unchanged_on_every_forze_store(
    target: StoreCase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bank.db"
    bank = BankAccounts(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(source)}
    )
    ids = _fill_bank(bank, 12)
    before, log = _state(bank, ids), _log(bank)
    bank.close()
    url = f"sqlite:///{source}"
    options = ["--application", "BankAccounts", "--batch-events", "7", *target.options]
    assert main(["import", "eventsourcing", url, *options]) == 0
    out = capsys.readouterr().out
    assert (
        f"imported {len(log)} events of stored_events into the category bankaccounts_events" in out
    )
    assert "2 of 2 topics map to no forze event type" in out

    moved = BankAccounts(env=_bank_env(target))
    try:
        assert isinstance(moved.factory, ForzeFactory)
        assert _state(moved, ids) == before
        assert _log(moved) == log
        moved.credit_account(ids[0], Decimal(5))
        assert moved.get_balance(ids[0]) == before[0][0] + 5
    finally:
        moved.close()


def _postgres_env(dsn: str, schema: str) -> dict[str, str]:
    parts = urlsplit(dsn)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parts.path.lstrip("/"),
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": parts.username or "postgres",
        "POSTGRES_PASSWORD": parts.password or "",
        "POSTGRES_SCHEMA": schema,
    }


async def _execute(dsn: str, sql: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def test_an_eventsourcing_postgres_database_imports_with_its_versions_and_order(
    postgres_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = f"es_source_{uuid.uuid4().hex[:8]}"
    asyncio.run(_execute(postgres_dsn, f'CREATE SCHEMA "{schema}"'))
    try:
        bank = BankAccounts(env=_postgres_env(postgres_dsn, schema))
        ids = _fill_bank(bank, 6)
        before, log = _state(bank, ids), _log(bank)
        bank.close()
        table = f"{schema}.bankaccounts_events"
        with sqlite_case(tmp_path) as copy:
            assert (
                main(["import", "eventsourcing", postgres_dsn, "--table", table, *copy.options])
                == 0
            )
            assert f"of {table} into the category bankaccounts_events" in capsys.readouterr().out
            moved = BankAccounts(env=_bank_env(copy))
            try:
                assert _state(moved, ids) == before
                assert _log(moved) == log
            finally:
                moved.close()
    finally:
        asyncio.run(_execute(postgres_dsn, f'DROP SCHEMA "{schema}" CASCADE'))


def _source(
    path: Path, table: str = "stored_events"
) -> tuple[SQLiteDatastore, SQLiteApplicationRecorder]:
    datastore = SQLiteDatastore(str(path))
    recorder = SQLiteApplicationRecorder(datastore, events_table_name=table)
    recorder.create_table()
    return datastore, recorder


def _records(originators: int, per: int, topic: str = "app:Event") -> list[StoredEvent]:
    ids = [uuid.uuid4() for _ in range(originators)]
    return [
        StoredEvent(ids[n % originators], n // originators + 1, topic, f"state {n}".encode())
        for n in range(originators * per)
    ]


def _count(path: Path) -> int:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as connection:
            return int(connection.execute("SELECT count(*) FROM forze_events").fetchone()[0])
    except sqlite3.OperationalError:  # not made yet, or locked by the writer
        return 0


def _feed(path: Path) -> list[tuple[str, int, int, str]]:
    """The imported events of the target: stream, version, originator version, topic."""

    async def read() -> list[tuple[str, int, int, str]]:
        store = SQLiteEventStore(str(path))
        try:
            events = await store.read_all(categories=["app_events"])
            return [
                (e.stream_id, e.version, int(e.metadata["originator_version"]), e.event_type)
                for e in events
            ]
        finally:
            store.close()

    return asyncio.run(read())


def test_an_import_killed_midway_finishes_when_run_again_with_each_event_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    datastore, recorder = _source(tmp_path / "source.db")
    records = _records(originators=400, per=10)
    for start in range(0, len(records), 500):
        recorder.insert_events(records[start : start + 500])
    datastore.close()
    target = tmp_path / "target.sqlite"
    url = f"sqlite:///{tmp_path / 'source.db'}"
    command = [FORZE, "import", "eventsourcing", url, "--application", "app", "--db", str(target)]
    process = subprocess.Popen([*command, "--batch-events", "20"], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while _count(target) < 500:
        assert process.poll() is None, "the import finished before it could be killed"
        assert time.monotonic() < deadline, "the import made no progress"
        time.sleep(0.01)
    process.kill()
    process.wait(timeout=30)
    assert 0 < _count(target) < len(records)

    assert main(command[1:]) == 0
    assert "by earlier runs" in capsys.readouterr().out
    feed = _feed(target)
    expected = [
        (f"app_events-{r.originator_id}", r.originator_version, r.originator_version, r.topic)
        for r in records
    ]
    assert feed == expected


def test_a_second_run_after_the_source_grew_copies_only_the_new_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    datastore, recorder = _source(tmp_path / "source.db")
    first = _records(originators=3, per=2)
    recorder.insert_events(first)
    command = ["import", "eventsourcing", f"sqlite:///{tmp_path / 'source.db'}"]
    options = ["--application", "app", "--db", str(tmp_path / "target.sqlite")]
    assert main([*command, *options]) == 0
    more = [
        StoredEvent(r.originator_id, r.originator_version + 2, "app:Later", b"x") for r in first
    ]
    recorder.insert_events(more)
    datastore.close()
    assert main([*command, *options]) == 0
    out = capsys.readouterr().out
    assert f"imported {len(more)} events ({len(first)} by earlier runs)" in out
    assert "app:Later" in out
    assert len(_feed(tmp_path / "target.sqlite")) == len(first) + len(more)


def test_a_target_already_holding_the_applications_streams_is_refused_and_keeps_its_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    datastore, recorder = _source(tmp_path / "source.db")
    records = _records(originators=2, per=3)
    recorder.insert_events(records)
    datastore.close()
    target = tmp_path / "target.sqlite"
    factory = ForzeFactory({"FORZE_STORE": f"sqlite:///{target}"})
    factory.env.name = "app"
    already = factory.application_recorder()
    assert isinstance(already, ForzeApplicationRecorder)
    already.insert_events([StoredEvent(records[1].originator_id, 1, "app:Mine", b"mine")])
    factory.close()

    command = ["import", "eventsourcing", f"sqlite:///{tmp_path / 'source.db'}"]
    assert main([*command, "--application", "app", "--db", str(target)]) == 2
    assert "already holds streams of app_events" in capsys.readouterr().err
    assert _feed(target) == [(f"app_events-{records[1].originator_id}", 1, 1, "app:Mine")]


def test_topics_that_a_specs_event_type_names_are_reported_as_mapped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bank.db"
    bank = BankAccounts(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(source)}
    )
    _fill_bank(bank, 3)
    bank.close()
    specs = f"{__name__}:SPECS"
    command = ["import", "eventsourcing", f"sqlite:///{source}", "--application", "BankAccounts"]
    assert main([*command, "--db", str(tmp_path / "t.sqlite"), "--specs", specs]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(
        line.startswith("eventsourcing.tests.domain:BankAccount.Opened") and line.endswith("yes")
        for line in lines
    )
    assert any("TransactionAppended" in line and line.endswith("no") for line in lines)
    assert "1 of 2 topics map to no forze event type" in lines[-1]


def _table_names(path: Path) -> list[str]:
    with sqlite3.connect(path) as connection:
        return [
            r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--application", "app", "--table", 'x"; DROP TABLE stored_events; --'],
            "has no eventsourcing events table",
        ),
        ([], "does not name the application"),
        (
            ["--application", "app", "--from", "somewhere"],
            "takes the database's URL, and no --from",
        ),
    ],
)
def test_bad_options_are_refused_and_change_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    datastore, recorder = _source(tmp_path / "source.db")
    recorder.insert_events(_records(2, 2))
    datastore.close()
    target = tmp_path / "target.sqlite"
    url = f"sqlite:///{tmp_path / 'source.db'}"
    assert main(["import", "eventsourcing", url, *arguments, "--db", str(target)]) == 2
    assert message in capsys.readouterr().err
    assert _table_names(tmp_path / "source.db") == ["stored_events"]
    assert _count(target) == 0


def test_a_database_with_several_applications_needs_a_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "two.db"
    for table in ("first_events", "second_events"):
        datastore, recorder = _source(path, table)
        recorder.insert_events(_records(1, 1))
        datastore.close()
    url = f"sqlite:///{path}"
    target = ["--db", str(tmp_path / "t.sqlite")]
    assert main(["import", "eventsourcing", url, *target]) == 2
    assert (
        "several eventsourcing events tables (first_events, second_events)"
        in capsys.readouterr().err
    )
    assert main(["import", "eventsourcing", url, "--table", "second_events", *target]) == 0
    assert "into the category second_events" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        (
            "postgresql://postgres@127.0.0.1:1/none",
            3,
            "cannot reach postgresql://postgres@127.0.0.1:1/none",
        ),
        ("mysql://root@127.0.0.1/x", 2, "is postgresql://... or sqlite:///PATH"),
        ("sqlite:///{dir}/missing.db", 2, "no SQLite database at"),
        ("sqlite:///{dir}/garbage.db", 2, "is not a readable SQLite database"),
        ("sqlite:///{dir}/empty.db", 2, "holds no eventsourcing application's events table"),
    ],
)
def test_a_source_that_is_not_an_eventsourcing_database_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, status: int, message: str
) -> None:
    (tmp_path / "garbage.db").write_bytes(b"not a database, not at all" * 100)
    sqlite3.connect(tmp_path / "empty.db").execute("CREATE TABLE t (x)").connection.close()
    source = url.format(dir=tmp_path)
    assert main(["import", "eventsourcing", source, "--db", str(tmp_path / "t.sqlite")]) == status
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_an_event_the_store_cannot_hold_stops_the_import_after_the_batches_before_it(
    tmp_path: Path,
) -> None:
    datastore, recorder = _source(tmp_path / "source.db")
    good = _records(originators=2, per=5)
    recorder.insert_events(good)
    recorder.insert_events([StoredEvent(uuid.uuid4(), 1, "t" * 201, b"x")])
    datastore.close()
    store = InMemoryEventStore()
    url = f"sqlite:///{tmp_path / 'source.db'}"
    with pytest.raises(InvalidInputError, match="after notification id 10 cannot be stored"):
        asyncio.run(import_eventsourcing(url, store, application="app", batch_events=5))
    assert len(asyncio.run(store.read_all(categories=["app_events"]))) == 10


_CANCEL_THEN_CLOSE = """
import asyncio, random, sys
from forze_eventsourcing._source import open_source

async def main() -> None:
    for _ in range(200):
        source = await open_source(sys.argv[1])
        read = asyncio.ensure_future(source.read_after(0, 1_000_000))
        await asyncio.sleep(random.uniform(0, 0.0005))
        read.cancel()
        await asyncio.gather(read, return_exceptions=True)
        await source.close()

asyncio.run(main())
"""
"""Cancels a whole-table read of a SQLite source at once or within half a millisecond, then
closes the source, 200 times (the import does so when an append fails while it reads the
next page). Before a cancelled read waited for its query, ``close`` freed the connection
under it: the process crashed within the 200 runs in each of five tries."""


def test_a_sqlite_source_closed_after_a_cancelled_read_waits_for_the_query_and_survives(
    tmp_path: Path,
) -> None:
    datastore, recorder = _source(tmp_path / "source.db")
    recorder.insert_events(_records(originators=200, per=100))
    datastore.close()
    url = f"sqlite:///{tmp_path / 'source.db'}"
    run = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", _CANCEL_THEN_CLOSE, url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    writes=st.lists(st.lists(st.integers(0, 5), min_size=1, max_size=6), min_size=1, max_size=12),
    batch=st.integers(1, 9),
)
def test_any_source_and_batch_size_keep_each_stream_and_the_feed_in_order(
    tmp_path_factory: pytest.TempPathFactory, writes: list[list[int]], batch: int
) -> None:
    path = tmp_path_factory.mktemp("es") / "source.db"
    datastore, recorder = _source(path)
    originators = [uuid.uuid4() for _ in range(6)]
    versions = dict.fromkeys(originators, 0)
    inserted: list[StoredEvent] = []
    for write in writes:  # one insert: events of several originators, interleaved
        events = []
        for index in write:
            versions[originators[index]] += 1
            events.append(
                StoredEvent(originators[index], versions[originators[index]], f"t{index}", b"s")
            )
        recorder.insert_events(events)
        inserted.extend(events)
    datastore.close()
    store = InMemoryEventStore()
    report = asyncio.run(
        import_eventsourcing(f"sqlite:///{path}", store, application="app", batch_events=batch)
    )
    assert report.imported == len(inserted)
    feed = asyncio.run(store.read_all(categories=["app_events"]))
    assert [(e.stream_id, e.metadata["originator_version"], e.event_type) for e in feed] == [
        (f"app_events-{e.originator_id}", e.originator_version, e.topic) for e in inserted
    ]
    assert all(e.version == e.metadata["originator_version"] for e in feed)
    progress = asyncio.run(store.read_all(categories=[IMPORT_CATEGORY]))
    assert len(progress) == -(-len(inserted) // batch)
