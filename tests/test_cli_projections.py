"""``forze projections``: status shows what the file recorded; reset asks before it drops."""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from forze import NewEvent, ReadModelSpec, ReadModelStores, RecordedEvent
from forze_cli import main
from forze_eventstore import SQLiteDatabase, SQLiteEventStore
from forze_projections import Projection, Projector, SQLiteProjectionBackend

SMALL = ["--accounts", "3", "--commands", "20"]


class Tally(BaseModel):
    id: str
    count: int = 0


TALLIES = ReadModelSpec("tallies", Tally)


async def _count(event: RecordedEvent, read_models: ReadModelStores) -> None:
    store = read_models(TALLIES)
    current = await store.get(event.stream_id) or Tally(id=event.stream_id)
    await store.upsert(Tally(id=event.stream_id, count=current.count + 1))


TALLY = Projection("tally", 2, {"Counted": _count}, read_models=(TALLIES,))


async def _store(path: Path, *, project: bool) -> None:
    """Three events; with ``project``, the ``tally`` projection (v2) ran over them; a relay's
    checkpoint is there either way."""
    db = SQLiteDatabase(path)
    try:
        events, backend = SQLiteEventStore(db), SQLiteProjectionBackend(db)
        await events.append("counter-1", [NewEvent("Counted", {}) for _ in range(3)])
        await backend.checkpoints.save("relay:orders", 3)
        if project:
            await Projector(events, backend, [TALLY]).catch_up()
    finally:
        db.close()


def _fingerprint(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {
        path.name: (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(directory.iterdir())
        if path.is_file()
    }


class _Terminal(io.StringIO):
    """Standard input at a terminal, with what the user types."""

    def isatty(self) -> bool:
        return True


# --- status without --projections --------------------------------------------------------


def test_status_shows_the_projections_recorded_in_the_file_and_not_the_demos(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tally.sqlite"
    asyncio.run(_store(path, project=True))
    assert main(["projections", "status", "--db", str(path)]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split()[:7] == [
        "PROJECTION", "VERSION", "LIVE", "CHECKPOINT", "HEAD", "LAG_ANY", "LAG_ANY_S",
    ]  # fmt: skip
    assert [row.split()[:6] for row in rows] == [["tally", "v2", "v2", "3", "3", "0"]]
    assert "caught up" in rows[0]


def test_status_of_a_file_no_projection_ran_on_says_none_is_known(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "relayed.sqlite"
    asyncio.run(_store(path, project=False))
    assert main(["projections", "status", "--db", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("no projection has run on this store yet")
    assert "account_balances" not in out
    assert "orders" not in out  # a relay is not a projection


def test_status_with_projections_shows_those_of_the_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tally.sqlite"
    asyncio.run(_store(path, project=True))
    arguments = ["--projections", "forze_examples.bank:PROJECTIONS", "--db", str(path)]
    assert main(["projections", "status", *arguments]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split()[5] == "LAG"  # of the events the projection reads
    assert row.split()[:4] == ["account_balances", "v1", "-", "0"]


# --- reset asks first ----------------------------------------------------------------------


@pytest.fixture
def demo_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "bank.sqlite"
    assert main(["demo", "--db", str(path), *SMALL]) == 0
    capsys.readouterr()
    return path


def _checkpoint(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["projections", "status", "--db", str(path)]) == 0
    return capsys.readouterr().out.splitlines()[1].split()[3]


def test_reset_without_yes_when_stdin_is_not_a_terminal_refuses_and_changes_nothing(
    demo_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("account_balances\n"))
    before = _fingerprint(demo_file.parent)
    assert main(["projections", "reset", "account_balances", "--db", str(demo_file)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "forze: error: refusing to reset 'account_balances' without --yes: standard input is"
        " not a terminal to confirm on; nothing was changed"
    ]
    assert _fingerprint(demo_file.parent) == before


def test_reset_at_a_terminal_goes_ahead_once_the_name_is_typed(
    demo_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", _Terminal("account_balances\n"))
    assert main(["projections", "reset", "account_balances", "--db", str(demo_file)]) == 0
    shown = capsys.readouterr()
    assert "type the projection name to confirm: " in shown.err
    assert shown.out == "reset account_balances v1: checkpoint 0, its documents dropped\n"
    assert _checkpoint(demo_file, capsys) == "0"


@pytest.mark.parametrize("typed", ["", "y\n", "account\n", "ACCOUNT_BALANCES\n"])
def test_reset_at_a_terminal_refuses_another_answer_and_changes_nothing(
    demo_file: Path,
    typed: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdin", _Terminal(typed))
    before = _fingerprint(demo_file.parent)
    assert main(["projections", "reset", "account_balances", "--db", str(demo_file)]) == 2
    err = capsys.readouterr().err
    assert err.endswith(
        "forze: error: reset of 'account_balances' not confirmed: nothing was changed\n"
    )
    assert _fingerprint(demo_file.parent) == before


def test_reset_of_an_unknown_projection_fails_before_asking(
    demo_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", _Terminal("nope\n"))
    assert main(["projections", "reset", "nope", "--db", str(demo_file)]) == 2
    assert capsys.readouterr().err == (
        "forze: error: no projection named 'nope' (known: account_balances)\n"
    )


def test_reset_with_yes_asks_nothing(
    demo_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["projections", "reset", "account_balances", "-y", "--db", str(demo_file)]) == 0
    assert capsys.readouterr().err == ""
    assert _checkpoint(demo_file, capsys) == "0"
