"""``forze archive`` on every store: cold streams move to a directory, ``stream show``
reads them whole with ``--archive`` and refuses without it, the feed keeps the rest, and two
archive processes at once lose and repeat nothing."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import cast

import pytest

from forze import NewEvent
from forze_cli import main
from forze_eventstore import ArchivedReads, DirectoryObjectStorage
from forze_eventstore.adapter_kit import StreamArchives
from tests.cli_stores_support import StoreCase, fill, store_case

KINDS = ["sqlite", "postgresql", "postgresql-tenant", "mongodb"]


@pytest.fixture(params=KINDS)
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreCase]:
    """A filled store of each kind: four accounts of three events, and ``order-1``
    (``Placed``, ``Paid``)."""
    dsn = partial(request.getfixturevalue, "postgres_dsn")
    with store_case(request.param, tmp_path, dsn) as store:
        asyncio.run(fill(store))
        yield store


def _run(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(arguments))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_archiving_moves_the_closed_streams_and_show_reads_them_whole_from_the_archive(
    case: StoreCase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = str(tmp_path / "archive")
    code, out, err = _run(capsys, "archive", *case.options, "--to", archive, "--closed-by", "Paid")
    assert code == 0, err
    assert "archived 1 streams: 1 events in 1 segments" in out
    code, out, err = _run(capsys, "stream", "show", "order-1", *case.options)
    assert code == 2
    assert "version 1 of stream 'order-1' is archived" in err
    assert "Traceback" not in err
    code, out, err = _run(
        capsys, "stream", "show", "order-1", *case.options, "--archive", archive, "--json"
    )
    assert code == 0, err
    shown = [json.loads(line) for line in out.splitlines()]
    assert [(e["version"], e["event_type"]) for e in shown] == [(1, "Placed"), (2, "Paid")]
    code, out, err = _run(capsys, "feed", "tail", *case.options, "--last", "100", "--json")
    assert code == 0, err
    types = [json.loads(line)["event_type"] for line in out.splitlines()]
    assert "Placed" not in types
    assert "Paid" in types


def test_a_dry_run_and_a_policy_nothing_meets_move_nothing(
    case: StoreCase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = str(tmp_path / "archive")
    code, out, err = _run(
        capsys, "archive", *case.options, "--to", archive, "--closed-by", "Paid", "--dry-run"
    )
    assert code == 0, err
    assert "would archive 1 streams: 1 events" in out
    code, out, err = _run(capsys, "archive", *case.options, "--to", archive, "--older-than", "30")
    assert code == 0, err
    assert "archived 0 streams" in out
    code, out, err = _run(capsys, "stream", "show", "order-1", *case.options, "--json")
    assert code == 0, err
    assert len(out.splitlines()) == 2


def test_archiving_without_a_policy_is_a_one_line_error(
    case: StoreCase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "archive", *case.options, "--to", str(tmp_path / "a"))
    assert code == 2
    assert err.strip().count("\n") == 0
    assert "--closed-by" in err


FORZE = str(Path(sys.executable).parent / "forze")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mongodb"])
def test_two_archive_processes_at_once_lose_and_repeat_no_event(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    made = store_case(kind, tmp_path, partial(request.getfixturevalue, "postgres_dsn"))
    streams = [f"order-{n:03}" for n in range(40 if kind == "mongodb" else 150)]
    archive = tmp_path / "archive"
    with made as case:

        async def fill() -> None:
            async with case.open() as (events, _):
                for stream_id in streams:
                    placed = [NewEvent("Placed", {"n": n}) for n in range(4)]
                    await events.append(stream_id, [*placed, NewEvent("Paid", {})], 0)

        asyncio.run(fill())
        command = [FORZE, "archive", *case.options, "--to", str(archive), "--closed-by", "Paid"]
        runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)]
        runs.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        outputs = [run.communicate(timeout=120) for run in runs]
        assert [run.returncode for run in runs] == [0, 0], [err for _, err in outputs]
        moved = [
            re.search(rb"archived ([\d,]+) streams: ([\d,]+) events", out) for out, _ in outputs
        ]
        assert all(moved), outputs
        assert sum(int(m.group(2).replace(b",", b"")) for m in moved if m) == 4 * len(streams)

        async def check() -> None:
            async with case.open() as (events, _):
                archives = cast(StreamArchives, events)
                reads = ArchivedReads(archives, DirectoryObjectStorage(archive))
                for stream_id in streams:
                    whole = await reads.read_stream(stream_id)
                    assert [e.version for e in whole] == [1, 2, 3, 4, 5], stream_id
                    segments = await archives.archived_segments(stream_id)
                    assert [(s.first_version, s.last_version) for s in segments] == [(1, 4)]

        asyncio.run(check())
