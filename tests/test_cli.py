"""The forze command line: the demo, store inspection, and one-line errors."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from forze import NewEvent
from forze_cli import main
from forze_cli._feed import tail_feed
from forze_cli._stores import store_target
from forze_eventstore import SQLiteEventStore


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "bank.sqlite"
    assert main(["demo", "--db", str(path), "--accounts", "12", "--commands", "300"]) == 0
    return path


def test_the_demo_runs_commands_and_checks_the_read_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bank.sqlite"
    assert main(["demo", "--db", str(path), "--accounts", "8", "--commands", "400"]) == 0
    out = capsys.readouterr().out
    assert "read model vs aggregates: all match" in out
    for phase in ("write (commands)", "feed read", "aggregate load", "balance projection"):
        assert phase in out
    assert "conflicts retried" in out


def test_the_demo_starts_from_a_fresh_file_each_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bank.sqlite"
    arguments = ["demo", "--db", str(path), "--accounts", "3", "--commands", "10"]
    assert main(arguments) == 0
    assert main(arguments) == 0
    assert "all match" in capsys.readouterr().out


def test_streams_lists_every_stream_with_its_version(
    demo_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["streams", "--db", str(demo_db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["STREAM", "VERSION"]
    assert lines[1].split()[0] == "account-00000"
    assert lines[-1] == f"12 streams; head position {_head(demo_db)}"


def _head(path: Path) -> int:
    async def read() -> int:
        async with SQLiteEventStore(path, read_only=True) as store:
            return await store.head_position()

    return asyncio.run(read())


def test_stream_show_prints_events_as_json_lines(
    demo_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["stream", "show", "account-00003", "--db", str(demo_db), "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert records[0]["event_type"] == "AccountOpened"
    assert [r["version"] for r in records] == list(range(1, len(records) + 1))


@pytest.mark.parametrize(
    "arguments",
    [
        ["demo", "--accounts", "0"],
        ["demo", "--commands", "many"],
        ["nonsense"],
        [],
        ["stream"],
        ["stream", "show"],
    ],
    ids=["zero-accounts", "not-a-number", "unknown-command", "no-command", "no-action", "no-id"],
)
def test_bad_arguments_give_a_one_line_error_and_exit_2(
    arguments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(arguments)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("forze")


def test_inspecting_a_missing_file_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["streams", "--db", str(tmp_path / "none.sqlite")]) == 2
    assert capsys.readouterr().err.startswith("forze: error: no event store at")


def test_showing_a_missing_stream_is_a_one_line_error(
    demo_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stream", "show", "account-nobody", "--db", str(demo_db)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "streams", "stream"):
        assert command in out


def test_feed_tail_prints_the_latest_events(
    demo_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["feed", "tail", "--db", str(demo_db), "--last", "3", "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == 3
    positions = [r["position"] for r in records]
    assert positions == sorted(positions)


async def test_feed_tail_follows_new_events_until_the_count(tmp_path: Path) -> None:
    path = tmp_path / "feed.sqlite"
    async with SQLiteEventStore(path) as store:
        await store.append("order-1", [NewEvent("Placed", {"n": 1})])
        out = io.StringIO()
        tail = asyncio.ensure_future(
            tail_feed(
                store_target(db=path, store=None),
                out,
                last=0,
                follow=True,
                count=2,
                event_types=["Paid"],
                categories=None,
                as_json=True,
            )
        )
        await asyncio.sleep(0.05)
        await store.append("order-1", [NewEvent("Shipped", {}), NewEvent("Paid", {"n": 2})])
        await store.append("order-2", [NewEvent("Paid", {"n": 3})])
        await asyncio.wait_for(tail, 5)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["stream_id"], r["data"]["n"]) for r in records] == [("order-1", 2), ("order-2", 3)]


def _status_row(capsys: pytest.CaptureFixture[str]) -> list[str]:
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["PROJECTION", "VERSION", "LIVE"]
    return lines[1].split()


def test_projections_status_reset_and_rebuild_manage_the_demo_read_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bank.sqlite"
    assert main(["demo", "--db", str(path), "--accounts", "5", "--commands", "60"]) == 0
    capsys.readouterr()
    db = ["--db", str(path)]
    assert main(["projections", "status", *db]) == 0
    name, version, live, checkpoint, head, lag, *_ = _status_row(capsys)
    assert (name, version, live, lag) == ("account_balances", "v1", "v1", "0")
    assert checkpoint == head
    assert main(["projections", "reset", "account_balances", "--yes", *db]) == 0
    assert "checkpoint 0" in capsys.readouterr().out
    assert main(["projections", "status", *db]) == 0
    row = _status_row(capsys)
    assert (row[3], row[5]) == ("0", head)
    assert main(["projections", "rebuild", "account_balances", *db]) == 0
    assert f"to position {head}" in capsys.readouterr().out
    assert main(["projections", "status", *db]) == 0
    assert _status_row(capsys)[3] == head


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["projections", "rebuild", "nope"], "no projection named 'nope'"),
        (["projections", "status", "--projections", "bad"], "must look like"),
        (["projections", "status", "--projections", "forze_examples.bank:ACCOUNTS"], "not a"),
    ],
    ids=["unknown-projection", "malformed-reference", "not-projections"],
)
def test_projection_commands_reject_bad_input_in_one_line(
    demo_db: Path, arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main([*arguments, "--db", str(demo_db)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
