"""The ``forze`` CLI never destroys or writes a file it should only read (issue 9)."""

from __future__ import annotations

import asyncio
import os
import select
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forze import NewEvent
from forze_cli import main
from forze_cli._demo_file import DEMO_APPLICATION_ID
from forze_eventstore import SQLiteEventStore
from tests.sqlite_support import foreign_database

FORZE = Path(sys.executable).parent / "forze"
SMALL = ["--accounts", "3", "--commands", "20"]
INSPECTIONS = [
    ["streams"],
    ["stream", "show", "account-00001"],
    ["feed", "tail"],
    ["projections", "status"],
]
WRITING = [
    ["projections", "rebuild", "account_balances"],
    ["projections", "reset", "account_balances"],
]


def _fingerprint(directory: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of ``directory`` with its bytes and modification time."""
    return {
        path.name: (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(directory.iterdir())
        if path.is_file()
    }


def _one_line_error(capsys: pytest.CaptureFixture[str], *fragments: str) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("forze")
    for fragment in fragments:
        assert fragment in err
    return err


def _demo(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--db", str(path), *SMALL]) == 0
    capsys.readouterr()


# --- forze demo: only its own file is replaced -------------------------------------------


def test_the_demo_marks_its_database_and_recreates_it_on_the_next_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bank.sqlite"
    _demo(path, capsys)
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA application_id").fetchone()[0] == DEMO_APPLICATION_ID
    connection.execute("CREATE TABLE leftover (x)")  # gone once the file is made anew
    connection.close()
    Path(f"{path}-shm").write_bytes(b"stale")
    _demo(path, capsys)
    assert not Path(f"{path}-shm").exists()
    connection = sqlite3.connect(path)
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    connection.close()
    assert "leftover" not in tables
    assert "forze_events" in tables


@pytest.mark.parametrize(
    "kind", ["text-file", "empty-file", "other-app-sqlite", "other-app-wal", "forze-store"]
)
def test_the_demo_refuses_an_existing_file_it_did_not_make_and_leaves_it_untouched(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "target.db"
    if kind == "text-file":
        path.write_text("my thesis, chapter 1\n")
    elif kind == "empty-file":
        path.touch()
    elif kind == "other-app-sqlite":
        foreign_database(path)
    elif kind == "other-app-wal":
        foreign_database(path, journal_mode="WAL")
        Path(f"{path}-wal").write_bytes(b"")
    else:
        store = SQLiteEventStore(path)
        store.close()
    before = _fingerprint(tmp_path)
    assert main(["demo", "--db", str(path), *SMALL]) == 2
    _one_line_error(capsys, "is not a forze demo database", "--force")
    assert _fingerprint(tmp_path) == before


def test_force_lets_the_demo_replace_a_file_it_did_not_make(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("scratch\n")
    assert main(["demo", "--db", str(path), "--force", *SMALL]) == 0
    assert "all match" in capsys.readouterr().out
    assert path.read_bytes().startswith(b"SQLite format 3\x00")


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["plain", "forced"])
def test_the_demo_refuses_a_directory_or_a_special_file_in_one_line(
    tmp_path: Path, force: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--db", str(tmp_path), *force, *SMALL]) == 2
    _one_line_error(capsys, "is a directory")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert main(["demo", "--db", str(fifo), *force, *SMALL]) == 2
    _one_line_error(capsys, "not a regular file")
    assert fifo.exists()


def test_the_demo_refuses_a_wal_file_left_without_its_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bank.sqlite"
    Path(f"{path}-wal").write_bytes(b"someone's log")
    assert main(["demo", "--db", str(path), *SMALL]) == 2
    _one_line_error(capsys, "-wal' exists without its database")
    assert Path(f"{path}-wal").read_bytes() == b"someone's log"
    assert not path.exists()


# --- inspection reads, never writes ------------------------------------------------------


@pytest.fixture(scope="module")
def demo_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed demo database to copy from."""
    path = tmp_path_factory.mktemp("demo") / "bank.sqlite"
    assert main(["demo", "--db", str(path), *SMALL]) == 0
    return path


@pytest.mark.parametrize("command", INSPECTIONS, ids=" ".join)
def test_inspecting_a_forze_store_changes_no_byte_nor_its_journal_mode_and_adds_no_file(
    demo_copy: Path, tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bank.sqlite"
    shutil.copy2(demo_copy, path)
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode = DELETE")
    connection.close()
    before = _fingerprint(tmp_path)
    capsys.readouterr()
    assert main([*command, "--db", str(path)]) == 0
    assert capsys.readouterr().out
    assert _fingerprint(tmp_path) == before
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    connection.close()


@pytest.mark.parametrize("command", [*INSPECTIONS, *WRITING], ids=" ".join)
@pytest.mark.parametrize("kind", ["text-file", "empty-file", "other-app", "other-app-wal"])
def test_a_file_that_is_not_a_forze_store_is_reported_and_left_as_it_was(
    tmp_path: Path, command: list[str], kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "target.db"
    if kind == "text-file":
        path.write_text("hello\n" * 300)
    elif kind == "empty-file":
        path.touch()
    else:
        foreign_database(path, journal_mode="WAL" if kind == "other-app-wal" else "DELETE")
    before = _fingerprint(tmp_path)
    assert main([*command, "--db", str(path)]) == 4  # not a store this forze can use
    _one_line_error(capsys, "is not a forze store")
    assert _fingerprint(tmp_path) == before


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory on a read-only medium (a tmpfs remounted ``ro``); needs root and mount."""
    medium = tmp_path / "medium"
    medium.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(medium)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield medium
    finally:
        subprocess.run(["umount", str(medium)], check=False)


def _remount_read_only(directory: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(directory)], check=True)
    with pytest.raises(OSError, match="Read-only file system"):
        (directory / "probe").touch()


@pytest.mark.parametrize("command", INSPECTIONS, ids=" ".join)
def test_a_store_on_a_read_only_medium_can_be_inspected(
    demo_copy: Path, read_only_dir: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy2(demo_copy, read_only_dir / "bank.sqlite")
    _remount_read_only(read_only_dir)
    capsys.readouterr()
    assert main([*command, "--db", str(read_only_dir / "bank.sqlite")]) == 0
    assert capsys.readouterr().out


def test_a_live_stores_copy_with_its_wal_on_a_read_only_medium_shows_every_event(
    tmp_path: Path, read_only_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "live.sqlite"

    async def copy_while_open() -> None:
        async with SQLiteEventStore(path) as store:
            await store.append("order-1", [NewEvent("Placed", {"n": 1})])
            for suffix in ("", "-wal", "-shm"):
                shutil.copy2(f"{path}{suffix}", read_only_dir / f"live.sqlite{suffix}")
            shutil.copy2(path, read_only_dir / "lost.sqlite")
            shutil.copy2(f"{path}-wal", read_only_dir / "lost.sqlite-wal")

    asyncio.run(copy_while_open())
    _remount_read_only(read_only_dir)
    assert main(["streams", "--db", str(read_only_dir / "live.sqlite")]) == 0
    assert "order-1" in capsys.readouterr().out
    assert main(["streams", "--db", str(read_only_dir / "lost.sqlite")]) == 4
    _one_line_error(capsys, "-shm file")


def test_a_store_written_by_a_newer_forze_is_refused_in_one_line(
    demo_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bank.sqlite"
    shutil.copy2(demo_copy, path)
    connection = sqlite3.connect(path)
    connection.execute("UPDATE forze_migrations SET version = version + 1")
    connection.commit()
    connection.close()
    before = _fingerprint(tmp_path)
    for command in (*INSPECTIONS, *WRITING):
        assert main([*command, "--db", str(path)]) == 4
        _one_line_error(capsys, "newer forze")
    assert _fingerprint(tmp_path) == before


# --- bad input and bad rows: one line, exit 2 ----------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        ["streams", "--limit", str(2**70)],
        ["stream", "show", "account-00001", "--limit", str(2**70)],
        ["feed", "tail", "--count", str(2**70)],
        ["feed", "tail", "--last", str(2**70)],
        ["demo", "--accounts", str(2**70)],
        ["demo", "--workers", "100000"],
    ],
    ids=["streams-limit", "show-limit", "tail-count", "tail-last", "accounts", "workers"],
)
def test_a_number_beyond_the_limits_is_a_one_line_error(
    demo_copy: Path, arguments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*arguments, "--db", str(demo_copy)])
    assert exited.value.code == 2
    _one_line_error(capsys, "must be at most")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    where=st.sampled_from(
        [
            ["stream", "show", "{}"],
            ["streams", "--category", "{}"],
            ["feed", "tail", "--type", "{}"],
            ["feed", "tail", "--category", "{}"],
            ["projections", "reset", "{}"],
        ]
    ),
    before=st.text(max_size=5).filter(lambda text: not text.startswith("-")),  # not an option
    byte=st.integers(0x80, 0xFF),
)
def test_an_argument_that_is_not_utf8_is_a_one_line_error(
    demo_copy: Path,
    where: list[str],
    before: str,
    byte: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = before + bytes([byte]).decode("utf-8", "surrogateescape")
    arguments = [part.replace("{}", text) for part in where]
    with pytest.raises(SystemExit) as exited:
        main([*arguments, "--db", str(demo_copy)])
    assert exited.value.code == 2
    _one_line_error(capsys, "is not valid UTF-8")


@pytest.mark.parametrize(
    "command", [["stream", "show", "account-00001"], ["feed", "tail", "--last", "1000"]]
)
def test_a_stored_row_that_cannot_be_decoded_is_a_one_line_error_naming_its_position(
    demo_copy: Path, tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bank.sqlite"
    shutil.copy2(demo_copy, path)
    connection = sqlite3.connect(path)
    position = connection.execute(
        "SELECT position FROM forze_events WHERE stream_id = 'account-00001' AND version = 1"
    ).fetchone()[0]
    connection.execute(
        "UPDATE forze_events SET data = '{\"owner\": ' WHERE position = ?", (position,)
    )
    connection.commit()
    connection.close()
    capsys.readouterr()
    assert main([*command, "--db", str(path)]) == 2
    _one_line_error(capsys, f"position {position} ", "cannot be decoded")


def test_the_installed_forze_command_refuses_a_text_file_and_undecodable_ids(
    demo_copy: Path, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me\n")
    demo = subprocess.run([FORZE, "demo", "--db", notes, *SMALL], capture_output=True, timeout=60)
    assert demo.returncode == 2
    assert demo.stderr.count(b"\n") == 1
    assert b"is not a forze demo database" in demo.stderr
    assert notes.read_text() == "keep me\n"
    show = subprocess.run(
        [FORZE, "stream", "show", b"account-\xff", "--db", demo_copy],
        capture_output=True,
        timeout=60,
    )
    assert show.returncode == 2
    assert show.stderr.count(b"\n") == 1
    assert b"is not valid UTF-8" in show.stderr
    streams = subprocess.run([FORZE, "streams", "--db", notes], capture_output=True, timeout=60)
    assert (streams.returncode, streams.stderr.count(b"\n")) == (4, 1)
    assert b"is not a forze store" in streams.stderr


def test_following_the_feed_of_a_closed_store_shows_a_writer_that_starts_later(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.sqlite"

    async def append(stream_id: str) -> None:
        async with SQLiteEventStore(path) as store:
            await store.append(stream_id, [NewEvent("Placed", {})])

    asyncio.run(append("order-1"))
    before = _fingerprint(tmp_path)
    tail = subprocess.Popen(
        [FORZE, "feed", "tail", "-f", "--last", "1", "--count", "2", "--db", path],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert tail.stdout is not None
        # it printed the stored event, so it follows the closed store before the writer starts
        # (a fixed sleep raced the command's start-up on a loaded machine)
        ready, _, _ = select.select([tail.stdout], [], [], 60)
        assert ready, "the tail printed nothing within 60 s"
        assert b"order-1" in tail.stdout.readline()
        assert _fingerprint(tmp_path) == before
        asyncio.run(append("order-2"))
        out, err = tail.communicate(timeout=30)
    finally:
        tail.kill()
    assert (tail.returncode, err) == (0, b"")
    assert b"order-2" in out


def test_projections_status_of_a_store_no_projection_ran_on_says_so_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "events.sqlite"
    store = SQLiteEventStore(path)
    store.close()
    before = _fingerprint(tmp_path)
    capsys.readouterr()
    assert main(["projections", "status", "--db", str(path)]) == 0
    assert capsys.readouterr().out.startswith("no projection has run on this store yet")
    assert _fingerprint(tmp_path) == before


def test_status_of_a_store_made_before_leases_existed_shows_no_runner_and_changes_nothing(
    demo_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bank.sqlite"
    shutil.copy2(demo_copy, path)
    connection = sqlite3.connect(path)
    connection.execute("DROP TABLE forze_projection_leases")
    connection.execute("DELETE FROM forze_migrations WHERE component = 'projection_leases'")
    connection.commit()
    connection.execute("PRAGMA journal_mode = DELETE")
    connection.close()
    before = _fingerprint(tmp_path)
    capsys.readouterr()
    assert main(["projections", "status", "--db", str(path)]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row[:2] == ["account_balances", "v1"]
    assert row[-2:] == ["-", "0"]  # no runner holds it; no failures
    assert _fingerprint(tmp_path) == before
