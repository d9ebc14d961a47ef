"""``forze relays status``: every relay of a SQLite file, read from another process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from forze.contracts import NewEvent
from forze_cli._main import main
from forze_eventstore import SQLiteDatabase, SQLiteEventStore
from forze_mock import InMemoryBroker
from forze_projections import (
    SKIP_REFUSED,
    FailurePolicy,
    Relay,
    RelayFailed,
    SQLiteProjectionBackend,
)
from forze_projections.testing.relay_support import GatedPublisher

HEADER = [
    "RELAY", "CHECKPOINT", "HEAD", "LAG_ANY", "LAG_ANY_S", "MOVED_S", "STALLED", "HOLDER",
    "REFUSED", "ERROR",
]  # fmt: skip


async def _published_file(
    path: Path,
    *,
    appended: int,
    relayed: int,
    pause: float = 0.0,
    policy: FailurePolicy = SKIP_REFUSED,
    big: int | None = None,
) -> None:
    """A store with ``appended`` events, of which a relay published the first ``relayed``
    ``pause`` seconds after they were appended; the event at position ``big`` (if any) is over
    the broker's size limit, and the relay follows ``policy`` (default: skip it)."""
    db = SQLiteDatabase(path)
    try:
        events, backend = SQLiteEventStore(db), SQLiteProjectionBackend(db)
        for n in range(relayed):
            data = {"n": n, "pad": "x" * 200 if n + 1 == big else ""}
            await events.append(f"order-{n % 3}", [NewEvent("Placed", data)])
        await asyncio.sleep(pause)
        broker = InMemoryBroker(max_message_bytes=100)
        broker.declare("all", "#")
        publisher = broker.publisher()
        relay = Relay(events, backend, publisher, name="orders", source="forze://t", policy=policy)
        if relayed:
            await relay.catch_up()
        for n in range(relayed, appended):
            await events.append(f"order-{n % 3}", [NewEvent("Placed", {"n": n})])
    finally:
        db.close()


def _status(path: Path, capsys: pytest.CaptureFixture[str], *options: str) -> list[str]:
    """The status line of the file's one relay, as cells (ERROR, with its spaces, last)."""
    assert main(["relays", "status", "--db", str(path), *options]) == 0
    header, line = capsys.readouterr().out.splitlines()
    assert header.split() == HEADER
    return line.split(maxsplit=len(HEADER) - 1)


def test_relay_status_shows_each_relays_checkpoint_lag_and_stall_from_another_process(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.sqlite"
    asyncio.run(_published_file(path, appended=7, relayed=5))
    shown = subprocess.run(
        [sys.executable, "-m", "forze_cli._main", "relays", "status", "--db", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    assert shown[0].split() == HEADER
    name, checkpoint, head, lag, seconds, moved, stalled, holder, refused, error = shown[1].split()
    assert (name, checkpoint, head, lag) == ("orders", "5", "7", "2")
    assert float(seconds) >= 0
    assert float(moved) >= 0
    assert (stalled, holder, refused, error) == ("no", "-", "0", "-")


def test_a_relay_behind_whose_checkpoint_has_not_moved_for_stall_seconds_is_reported_stalled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "store.sqlite"
    asyncio.run(_published_file(path, appended=4, relayed=2))
    assert _status(path, capsys, "--stall-seconds", "0.3")[6] == "no"  # behind for a moment
    time.sleep(0.4)
    cells = _status(path, capsys, "--stall-seconds", "0.3")
    assert (cells[3], cells[6]) == ("2", "yes")
    assert float(cells[5]) >= 0.4


def test_a_relay_caught_up_long_ago_is_not_reported_stalled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "store.sqlite"
    asyncio.run(_published_file(path, appended=3, relayed=3))
    time.sleep(0.4)
    cells = _status(path, capsys, "--stall-seconds", "0.3")
    assert (cells[3], cells[6]) == ("0", "no")


async def _partly_relayed_backlog(path: Path, *, old: float) -> None:
    """Twelve events ``old`` seconds old; a relay that published part of them just now."""
    db = SQLiteDatabase(path)
    try:
        events, backend = SQLiteEventStore(db), SQLiteProjectionBackend(db)
        for n in range(12):
            await events.append(f"order-{n % 3}", [NewEvent("Placed", {"n": n})])
        await asyncio.sleep(old)
        broker = InMemoryBroker()
        broker.declare("all", "#")
        slow = GatedPublisher(broker.publisher(), delay=0.02)
        relay = Relay(events, backend, slow, name="orders", source="forze://t", batch_size=1)
        async with relay:
            await relay.wait_until(4, timeout=10)
    finally:
        db.close()


def test_a_relay_working_through_a_backlog_older_than_stall_seconds_is_not_reported_stalled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "store.sqlite"
    asyncio.run(_partly_relayed_backlog(path, old=0.5))
    cells = _status(path, capsys, "--stall-seconds", "0.3")
    assert int(cells[1]) >= 4  # it moved ...
    assert int(cells[3]) > 0  # ... and is still behind
    assert float(cells[4]) > 0.3  # behind an event older than --stall-seconds
    assert cells[6] == "no"


def test_a_relay_that_stopped_on_a_refused_message_shows_where_and_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "store.sqlite"
    stop = FailurePolicy(on_error="stop")
    with pytest.raises(RelayFailed):
        asyncio.run(_published_file(path, appended=5, relayed=5, big=3, policy=stop))
    cells = _status(path, capsys)  # listed by its lease: it never saved a checkpoint
    assert (cells[1], cells[3], cells[5], cells[8]) == ("0", "5", "-", "1")
    assert " stopped at 3: MessageRefused: " in cells[9]
    assert "bytes is over 100" in cells[9]


def test_a_message_the_relay_skipped_shows_as_its_last_error_without_stopping_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "store.sqlite"
    asyncio.run(_published_file(path, appended=5, relayed=5, big=3))
    cells = _status(path, capsys)
    assert (cells[1], cells[3], cells[8]) == ("5", "0", "1")
    assert " at 3: MessageRefused: " in cells[9]
    assert "stopped" not in cells[9]


@pytest.mark.parametrize("seconds", ["0", "-1", "nan", "inf", "soon"])
def test_stall_seconds_that_are_not_a_positive_number_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], seconds: str
) -> None:
    path = tmp_path / "store.sqlite"
    asyncio.run(_published_file(path, appended=1, relayed=1))
    with pytest.raises(SystemExit) as exited:
        main(["relays", "status", "--db", str(path), "--stall-seconds", seconds])
    assert exited.value.code == 2
    assert "--stall-seconds" in capsys.readouterr().err


def test_the_help_says_lag_counts_events_of_any_type(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["relays", "status", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "LAG_ANY, the events of any type after its checkpoint" in shown
    assert "a relay working through an old backlog is not stalled" in shown


def test_a_file_no_relay_published_from_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "store.sqlite"
    asyncio.run(_published_file(path, appended=3, relayed=0))
    assert main(["relays", "status", "--db", str(path)]) == 0
    assert "no relay has published" in capsys.readouterr().out
