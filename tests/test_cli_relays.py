"""``forze relays status``: every relay of a SQLite file, read from another process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from forze.contracts import NewEvent
from forze_cli.main import main
from forze_eventstore import SQLiteDatabase, SQLiteEventStore
from forze_mock import InMemoryBroker
from forze_projections import Relay, SQLiteProjectionBackend


async def _published_file(path: Path, *, appended: int, relayed: int) -> None:
    """A store with ``appended`` events, of which a relay published the first ``relayed``."""
    db = SQLiteDatabase(path)
    try:
        events, backend = SQLiteEventStore(db), SQLiteProjectionBackend(db)
        for n in range(relayed):
            await events.append(f"order-{n % 3}", [NewEvent("Placed", {"n": n})])
        broker = InMemoryBroker()
        broker.declare("all", "#")
        relay = Relay(events, backend, broker.publisher(), name="orders", source="forze://t")
        if relayed:
            await relay.catch_up()
        for n in range(relayed, appended):
            await events.append(f"order-{n % 3}", [NewEvent("Placed", {"n": n})])
    finally:
        db.close()


def test_relay_status_shows_each_relays_checkpoint_lag_and_stall_from_another_process(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.sqlite"
    asyncio.run(_published_file(path, appended=7, relayed=5))
    shown = subprocess.run(
        [sys.executable, "-m", "forze_cli.main", "relays", "status", "--db", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    assert shown[0].split() == [
        "RELAY", "CHECKPOINT", "HEAD", "LAG", "LAG_S", "STALLED", "HOLDER", "REFUSED"
    ]  # fmt: skip
    name, checkpoint, head, lag, _seconds, stalled, holder, refused = shown[1].split()
    assert (name, checkpoint, head, lag) == ("orders", "5", "7", "2")
    assert (stalled, holder, refused) == ("no", "-", "0")


def test_a_relay_behind_longer_than_stall_seconds_is_reported_stalled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "store.sqlite"
    asyncio.run(_published_file(path, appended=4, relayed=2))
    args = ["relays", "status", "--db", str(path), "--stall-seconds", "0.000001"]
    assert main(args) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[5] == "yes"


def test_a_file_no_relay_published_from_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "store.sqlite"
    asyncio.run(_published_file(path, appended=3, relayed=0))
    assert main(["relays", "status", "--db", str(path)]) == 0
    assert "no relay has published" in capsys.readouterr().out
