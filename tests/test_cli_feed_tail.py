"""``forze feed tail``: the type and category filters apply first, then ``--last`` and
``--count``."""

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


async def _append(path: Path, *batches: tuple[str, list[NewEvent]]) -> None:
    async with SQLiteEventStore(path) as store:
        for stream_id, events in batches:
            await store.append(stream_id, events)


@pytest.fixture
def mostly_placed(tmp_path: Path) -> Path:
    """Positions 1-8 alternate Placed and Paid (Paid at 2, 4, 6, 8), then 12 more Placed."""
    path = tmp_path / "orders.sqlite"
    batches = [
        (f"order-{n}", [NewEvent("Placed", {"n": n}), NewEvent("Paid", {"n": n})])
        for n in range(1, 5)
    ]
    filler = [NewEvent("Placed", {"n": 100 + n}) for n in range(12)]
    asyncio.run(_append(path, *batches, ("cart-1", filler)))
    return path


def _tail(path: Path, capsys: pytest.CaptureFixture[str], *options: str) -> list[int]:
    """The positions ``forze feed tail --json`` prints."""
    capsys.readouterr()
    assert main(["feed", "tail", "--db", str(path), "--json", *options]) == 0
    return [json.loads(line)["position"] for line in capsys.readouterr().out.splitlines()]


def test_a_type_filter_with_a_count_prints_that_many_events_of_the_type_the_newest_ones(
    mostly_placed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _tail(mostly_placed, capsys, "--type", "Paid", "--count", "3") == [4, 6, 8]


def test_last_counts_the_events_that_pass_the_filter_not_positions(
    mostly_placed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _tail(mostly_placed, capsys, "--type", "Paid", "--last", "2") == [6, 8]
    assert _tail(mostly_placed, capsys, "--type", "Paid") == [2, 4, 6, 8]  # fewer than 10
    assert _tail(mostly_placed, capsys, "--category", "order", "--last", "3") == [6, 7, 8]


def test_without_a_filter_last_and_count_take_the_newest_events(
    mostly_placed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _tail(mostly_placed, capsys, "--last", "3") == [18, 19, 20]
    assert _tail(mostly_placed, capsys, "--last", "5", "--count", "2") == [19, 20]
    assert _tail(mostly_placed, capsys, "--last", "0") == []


def test_a_match_far_behind_the_head_is_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "old.sqlite"
    filler = [NewEvent("Placed", {"n": n}) for n in range(2500)]
    asyncio.run(_append(path, ("order-1", [NewEvent("Paid", {})]), ("cart-1", filler)))
    assert _tail(path, capsys, "--type", "Paid", "--count", "3") == [1]


async def test_following_starts_last_matching_events_back_and_stops_after_the_count(
    mostly_placed: Path,
) -> None:
    out = io.StringIO()
    tail = asyncio.ensure_future(
        tail_feed(
            store_target(db=mostly_placed, store=None),
            out,
            last=2,
            follow=True,
            count=3,
            event_types=["Paid"],
            categories=None,
            as_json=True,
        )
    )
    await asyncio.sleep(0.05)
    await _append(mostly_placed, ("order-9", [NewEvent("Placed", {}), NewEvent("Paid", {})]))
    await asyncio.wait_for(tail, 5)
    assert [json.loads(line)["position"] for line in out.getvalue().splitlines()] == [6, 8, 22]
