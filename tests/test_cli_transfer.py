"""``forze export`` and ``forze import`` between stores of every kind, and as a user runs
them: a process killed mid-export or mid-import, then run again."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forze.contracts import EventStore
from forze_cli import main
from forze_eventstore import DirectoryObjectStorage, SQLiteEventStore, read_manifest
from tests.cli_stores_support import (
    StoreCase,
    big_store,
    fill,
    mongo_case,
    postgres_case,
    sqlite_case,
)

FORZE = str(Path(sys.executable).parent / "forze")


async def _shape(store: EventStore) -> list[tuple[Any, ...]]:
    events = await store.read_all()
    return [(e.stream_id, e.version, e.event_id, e.event_type, e.data, e.metadata) for e in events]


@pytest.fixture(params=["sqlite", "postgresql", "mongodb"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreCase]:
    """An empty store of each kind (a SQLite file that does not exist yet)."""
    if request.param == "sqlite":
        made = sqlite_case(tmp_path / "target")
        (tmp_path / "target").mkdir()
    elif request.param == "mongodb":
        made = mongo_case()
    else:
        made = postgres_case(request.getfixturevalue("postgres_dsn"))
    with made as case:
        yield case


def test_an_export_imported_into_any_store_has_the_same_streams_and_events(
    target: StoreCase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite_case(tmp_path) as source:
        asyncio.run(fill(source))
        folder = tmp_path / "export"
        assert main(["export", "--to", str(folder), *source.options, "--chunk-events", "5"]) == 0
        assert "exported 14 events" in capsys.readouterr().out
        assert main(["import", "--from", str(folder), *target.options]) == 0
        assert "imported 14 events" in capsys.readouterr().out
        assert main(["import", "--from", f"file://{folder}", *target.options]) == 0
        assert "imported 0 events (14 already there)" in capsys.readouterr().out

        async def compare() -> None:
            async with source.open() as (events, _), target.open() as (copied, _):
                assert await _shape(copied) == await _shape(events)

        asyncio.run(compare())
        assert main(["streams", *target.options, "--json"]) == 0
        assert len(capsys.readouterr().out.splitlines()) == 5


def _kill_when(process: subprocess.Popen[bytes], ready: Any, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        assert process.poll() is None, "the command finished before it could be killed"
        assert time.monotonic() < deadline, "the command made no progress"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def test_an_export_and_an_import_killed_midway_finish_when_run_again(tmp_path: Path) -> None:
    source, folder, copy = tmp_path / "source.sqlite", tmp_path / "export", tmp_path / "copy.sqlite"
    asyncio.run(big_store(source, streams=3000, per_stream=10))
    storage = DirectoryObjectStorage(folder)

    def chunks_written() -> bool:
        manifest = asyncio.run(read_manifest(storage, ""))
        return manifest is not None and len(manifest.chunks) >= 2

    export = [FORZE, "export", "--db", str(source), "--to", str(folder), "--chunk-events", "1000"]
    _kill_when(subprocess.Popen(export, stderr=subprocess.DEVNULL), chunks_written)
    killed = asyncio.run(read_manifest(storage, ""))
    assert killed is not None
    assert not killed.complete
    finished = subprocess.run(export, capture_output=True, timeout=120, check=False)
    assert finished.returncode == 0, finished.stderr
    assert b"exported 30,000 events" in finished.stdout

    def some_imported() -> bool:
        if not copy.exists():
            return False
        try:
            return asyncio.run(_head(copy)) > 3000
        except Exception:  # the file is being created
            return False

    imports = [FORZE, "import", "--db", str(copy), "--from", str(folder), "--batch-events", "50"]
    _kill_when(subprocess.Popen(imports, stderr=subprocess.DEVNULL), some_imported)
    assert asyncio.run(_head(copy)) < 30_000, "killed before the end"
    again = subprocess.run(imports, capture_output=True, timeout=120, check=False)
    assert again.returncode == 0, again.stderr
    assert b"already there" in again.stdout

    async def compare() -> None:
        async with (
            SQLiteEventStore(source, read_only=True) as original,
            SQLiteEventStore(copy, read_only=True) as imported,
        ):
            assert await _shape(imported) == await _shape(original)

    asyncio.run(compare())


async def _head(path: Path) -> int:
    async with SQLiteEventStore(path, read_only=True) as store:
        return await store.head_position()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["import", "--from", "/nonexistent/export"], "no export at"),
        (
            ["export", "--to", "ftp://host/x"],
            "must be a directory, file:///PATH or s3://BUCKET/PREFIX",
        ),
    ],
    ids=["no-export", "unknown-location"],
)
def test_bad_locations_are_one_line_errors(
    arguments: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite_case(tmp_path) as store:
        asyncio.run(fill(store))
        assert main([*arguments, *store.options]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
