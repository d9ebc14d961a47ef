"""The event log and snapshots on S3 (the moto server ``make test`` starts): a 100,000-event
export and import round trip, a 100,000-event archive and load round trip, ``forze
export``/``import`` with ``s3://`` locations, and the snapshot-store contract on S3."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest

from forze import NewEvent, StreamAppend, StreamArchived
from forze.contracts import SnapshotStore
from forze_cli import main
from forze_eventstore import (
    ArchivedReads,
    ArchivePolicy,
    EventSourcedRepository,
    ObjectSnapshotStore,
    SQLiteEventStore,
    archive_cold_streams,
    export_events,
    import_events,
)
from forze_eventstore.testing import SnapshotStoreContract
from forze_examples.bank.account import ACCOUNTS
from forze_s3 import S3ObjectStorage
from tests.cli_stores_support import big_store
from tests.s3_support import ENDPOINT, SETTINGS, remove_bucket, scratch_bucket


class TestObjectSnapshotStoreOnS3(SnapshotStoreContract):
    """Snapshots of large aggregates in an S3 bucket."""

    @asynccontextmanager
    async def open_snapshots(self) -> AsyncIterator[SnapshotStore]:
        async with scratch_bucket() as settings, S3ObjectStorage(settings) as storage:
            yield ObjectSnapshotStore(storage)


async def _ids(path: Path) -> list[tuple[str, int, str]]:
    async with SQLiteEventStore(path, read_only=True) as store:
        events = await store.read_all()
        return [(e.stream_id, e.version, str(e.event_id)) for e in events]


async def test_a_hundred_thousand_events_round_trip_through_s3(tmp_path: Path) -> None:
    source, copy = tmp_path / "source.sqlite", tmp_path / "copy.sqlite"
    await big_store(source, streams=5_000, per_stream=20)
    async with scratch_bucket() as settings, S3ObjectStorage(settings) as storage:
        async with SQLiteEventStore(source, read_only=True) as events:
            manifest = await export_events(events, storage, "backups/2026-12-06")
        assert (manifest.events, len(manifest.chunks)) == (100_000, 2)
        keys = await storage.list("backups/2026-12-06/")
        assert keys[-1] == "backups/2026-12-06/manifest.json"
        assert (await storage.stat(keys[0])).content_type == "application/gzip"
        async with SQLiteEventStore(copy) as target:
            report = await import_events(storage, "backups/2026-12-06", target)
        assert report.imported == 100_000
    assert await _ids(copy) == await _ids(source)


async def _bank(store: SQLiteEventStore, accounts: int, deposits: int) -> None:
    """``accounts`` bank accounts, each opened then paid into ``deposits`` times."""
    for first in range(0, accounts, 10):
        await store.append_many(
            [
                StreamAppend(
                    ACCOUNTS.stream_id(f"{n:04}"),
                    [
                        NewEvent("AccountOpened", {"owner": f"owner {n}", "overdraft_limit": 0}),
                        *(NewEvent("MoneyDeposited", {"amount": k + n}) for k in range(deposits)),
                    ],
                    0,
                )
                for n in range(first, min(first + 10, accounts))
            ]
        )


async def test_a_hundred_thousand_archived_events_load_into_the_same_aggregates(
    tmp_path: Path,
) -> None:
    async with SQLiteEventStore(tmp_path / "bank.sqlite") as store:
        await _bank(store, accounts=100, deposits=999)
        repository = EventSourcedRepository(ACCOUNTS, store)
        before = [await repository.load(f"{n:04}") for n in range(100)]
        async with scratch_bucket() as settings, S3ObjectStorage(settings) as storage:
            quiet = ArchivePolicy(older_than=timedelta(days=365))
            later = datetime.now(UTC) + timedelta(days=366)
            report = await archive_cold_streams(store, storage, quiet, now=later)
            assert (report.streams, report.events, report.segments) == (100, 99_900, 100)
            assert await store.count_events() == 100  # each stream's last event stays
            with pytest.raises(StreamArchived):
                await repository.load("0007")
            archived = EventSourcedRepository(ACCOUNTS, ArchivedReads(store, storage))
            after = [await archived.load(f"{n:04}") for n in range(100)]
            assert [(a.version, a.balance, a.owner) for a in after] == [
                (b.version, b.balance, b.owner) for b in before
            ]
            after[7].deposit(5)
            await archived.save(after[7])
            assert (await archived.load("0007")).balance == before[7].balance + 5


@pytest.fixture
def bucket() -> Iterator[str]:
    """A new, empty bucket on the test server, removed with its objects afterwards."""
    name = f"forze-test-cli-{uuid4().hex[:12]}"

    async def create() -> None:
        async with S3ObjectStorage(replace(SETTINGS, bucket=name)) as storage:
            await storage.ensure_bucket()

    asyncio.run(create())
    try:
        yield name
    finally:
        asyncio.run(remove_bucket(name))


def test_the_cli_exports_to_and_imports_from_an_s3_prefix(
    bucket: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source, copy = tmp_path / "source.sqlite", tmp_path / "copy.sqlite"
    asyncio.run(big_store(source, streams=50, per_stream=4))
    monkeypatch.setenv("AWS_ENDPOINT_URL", ENDPOINT)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    location = f"s3://{bucket}/exports/bank"
    assert main(["export", "--db", str(source), "--to", location, "--chunk-events", "64"]) == 0
    assert "exported 200 events" in capsys.readouterr().out
    assert main(["import", "--db", str(copy), "--from", location]) == 0
    assert "imported 200 events" in capsys.readouterr().out
    assert asyncio.run(_ids(copy)) == asyncio.run(_ids(source))
    assert main(["import", "--db", str(copy), "--from", f"s3://{bucket}-missing/x"]) == 4
    assert "does not exist" in capsys.readouterr().err


def test_an_unreachable_s3_is_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "source.sqlite"
    asyncio.run(big_store(source, streams=1, per_stream=1))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    assert main(["export", "--db", str(source), "--to", "s3://backups/x"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("forze: error: ")
    assert err.count("\n") == 1
