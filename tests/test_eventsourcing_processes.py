"""``forze_eventsourcing`` as applications deploy it: several processes on one forze store.
Writers in two processes credit one account at once, and a follower in a third process
sees every notification once, in order, as it is committed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from functools import partial
from pathlib import Path

import pytest
from eventsourcing.tests.application import BankAccounts

from tests.cli_stores_support import StoreCase, store_case

ROOT = Path(__file__).resolve().parents[1]
TIMES = 40
"""Credits each writer process makes."""


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreCase]:
    """An empty forze store shared by the test's processes."""
    dsn = partial(request.getfixturevalue, "postgres_dsn")
    with store_case(request.param, tmp_path, dsn) as case:
        yield case


def _env(store: StoreCase) -> dict[str, str]:
    env = {**os.environ, "PERSISTENCE_MODULE": "forze_eventsourcing"}
    if store.kind == "sqlite":
        env["FORZE_STORE"] = f"sqlite:///{store.notes['path']}"
    else:
        env.update(FORZE_STORE=store.notes["dsn"], FORZE_SCHEMA=store.notes["schema"])
    return env


def _start(env: dict[str, str], *arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.eventsourcing_worker", *arguments],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_writers_in_two_processes_lose_no_credit_and_a_follower_sees_each_event_once_in_order(
    store: StoreCase,
) -> None:
    env = _env(store)
    bank = BankAccounts(env=env)
    try:
        account = bank.open_account("Ada", "ada@example.com")
        follower = _start(env, "follow", str(1 + 2 * TIMES))
        assert follower.stdout is not None
        assert follower.stdout.readline().strip() == "following"
        writers = [_start(env, "credit", str(account), str(TIMES)) for _ in range(2)]
        for writer in writers:
            writer.communicate(timeout=120)
        assert [writer.returncode for writer in writers] == [0, 0]
        followed, _ = follower.communicate(timeout=60)
        assert follower.returncode == 0

        assert bank.get_balance(account) == Decimal(2 * TIMES)
        assert bank.get_account(account).version == 1 + 2 * TIMES
        ids = [n.id for n in bank.recorder.select_notifications(None, 1000)]
        assert [int(line) for line in followed.split()] == ids
        assert ids == sorted(set(ids))
    finally:
        bank.close()
