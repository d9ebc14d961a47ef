"""Every operational command works on every store: a SQLite file, a PostgreSQL schema (in
either tenancy layout) and a MongoDB database, named by ``--store`` or ``FORZE_STORE``."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from functools import partial

import pytest

from forze import NewEvent
from forze_cli import main
from forze_cli._feed import tail_feed
from forze_cli._stores import store_target
from tests.cli_stores_support import (
    ACCOUNTS,
    StoreCase,
    fill,
    store_case,
)

KINDS = ["sqlite", "postgresql", "postgresql-tenant", "mongodb"]


@pytest.fixture(scope="module", params=KINDS)
def case(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[StoreCase, int]]:
    """A filled store of each kind, and its head position."""
    dsn = partial(request.getfixturevalue, "postgres_dsn")
    with store_case(request.param, tmp_path_factory.mktemp("cli"), dsn) as store:
        yield store, asyncio.run(fill(store))


def _run(capsys: pytest.CaptureFixture[str], *arguments: str) -> str:
    capsys.readouterr()
    code = main(list(arguments))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_streams_lists_each_stream_with_its_version_by_category_and_limit(
    case: tuple[StoreCase, int], capsys: pytest.CaptureFixture[str]
) -> None:
    store, head = case
    lines = _run(capsys, "streams", *store.options).splitlines()
    assert lines[0].split() == ["STREAM", "VERSION"]
    assert [line.split() for line in lines[1:-1]] == [
        *([f"account-{n:05}", "3"] for n in range(ACCOUNTS)),
        ["order-1", "2"],
    ]
    assert lines[-1] == f"{ACCOUNTS + 1} streams; head position {head}"
    listed = _json_lines(_run(capsys, "streams", *store.options, "--category", "order", "--json"))
    assert listed == [{"stream_id": "order-1", "version": 2}]
    first = _run(capsys, "streams", *store.options, "--limit", "2").splitlines()
    assert [line.split()[0] for line in first[1:-1]] == ["account-00000", "account-00001"]
    assert first[-1] == f"first 2 streams; head position {head}"


def test_stream_show_prints_a_streams_events_in_version_order(
    case: tuple[StoreCase, int], capsys: pytest.CaptureFixture[str]
) -> None:
    store, _ = case
    records = _json_lines(_run(capsys, "stream", "show", "account-00002", *store.options, "--json"))
    assert [(r["version"], r["event_type"]) for r in records] == [
        (1, "AccountOpened"),
        (2, "MoneyDeposited"),
        (3, "MoneyDeposited"),
    ]
    assert main(["stream", "show", "account-nobody", *store.options]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_feed_tail_prints_the_newest_matching_events(
    case: tuple[StoreCase, int], capsys: pytest.CaptureFixture[str]
) -> None:
    store, head = case
    records = _json_lines(_run(capsys, "feed", "tail", *store.options, "--last", "3", "--json"))
    assert [r["event_type"] for r in records] == ["MoneyDeposited", "Placed", "Paid"]
    assert records[-1]["position"] == head
    typed = _run(capsys, "feed", "tail", *store.options, "--type", "AccountOpened", "--json")
    assert [r["stream_id"] for r in _json_lines(typed)] == [
        f"account-{n:05}" for n in range(ACCOUNTS)
    ]


def test_projections_status_shows_each_recorded_projection_at_the_head(
    case: tuple[StoreCase, int], capsys: pytest.CaptureFixture[str]
) -> None:
    store, _ = case
    for extra in ([], ["--projections", "forze_examples.bank:PROJECTIONS"]):
        lines = _run(capsys, "projections", "status", *store.options, *extra).splitlines()
        assert lines[0].split()[:5] == ["PROJECTION", "VERSION", "LIVE", "CHECKPOINT", "HEAD"]
        name, version, live, checkpoint, head, lag, *_ = lines[1].split()
        assert (name, version, live, lag) == ("account_balances", "v1", "v1", "0")
        assert checkpoint == head
        assert len(lines) == 2, "relays and sagas are not projections"


def test_relays_and_sagas_status_show_their_checkpoints_and_holders(
    case: tuple[StoreCase, int], capsys: pytest.CaptureFixture[str]
) -> None:
    store, head = case
    relays = _run(capsys, "relays", "status", *store.options).splitlines()
    assert relays[0].split()[:3] == ["RELAY", "CHECKPOINT", "HEAD"]
    relay = relays[1].split()
    assert relay[:3] == ["bus", str(head), str(head)]
    assert "worker-7" in relay
    sagas = _run(capsys, "sagas", "status", *store.options).splitlines()
    assert sagas[0].split()[0] == "DISPATCHER"
    assert sagas[1].split()[:3] == ["fulfilment", str(head), str(head)]


def test_reset_then_rebuild_brings_a_projection_back_to_the_head(
    case: tuple[StoreCase, int], capsys: pytest.CaptureFixture[str]
) -> None:
    store, head = case
    name = "account_balances"
    reset = _run(capsys, "projections", "reset", name, "--yes", *store.options)
    assert reset.startswith(f"reset {name} v1: checkpoint 0")
    row = _run(capsys, "projections", "status", *store.options).splitlines()[1].split()
    assert row[3] == "0"
    rebuilt = _run(capsys, "projections", "rebuild", name, *store.options)
    assert f"rebuilt {name} v1 to position {head}" in rebuilt
    row = _run(capsys, "projections", "status", *store.options).splitlines()[1].split()
    assert (row[3], row[5]) == (str(head), "0")


def test_the_store_url_can_come_from_the_environment(
    case: tuple[StoreCase, int],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, head = case
    monkeypatch.setenv("FORZE_STORE", store.options[1])
    rest = store.options[2:]
    assert _run(capsys, "streams", *rest).splitlines()[-1].endswith(f"head position {head}")


# last: it appends to the store the tests above share
async def test_feed_tail_follows_events_appended_after_it_started(
    case: tuple[StoreCase, int],
) -> None:
    store, _ = case
    stream = f"follow-{store.kind}"
    out = io.StringIO()
    target = store_target(
        db=None,
        store=store.options[1],
        schema=store.notes.get("schema"),
        tenant="acme" if store.kind == "postgresql-tenant" else None,
    )
    tail = asyncio.ensure_future(
        tail_feed(
            target,
            out,
            last=0,
            follow=True,
            count=2,
            event_types=None,
            categories=["follow"],
            as_json=True,
        )
    )
    await asyncio.sleep(0.3)
    async with store.open() as (events, _backend):
        await events.append(stream, [NewEvent("Noted", {"n": 1})], expected_version=0)
        await events.append(stream, [NewEvent("Noted", {"n": 2})], expected_version=1)
    await asyncio.wait_for(tail, 20)
    assert [r["data"] for r in _json_lines(out.getvalue())] == [{"n": 1}, {"n": 2}]
