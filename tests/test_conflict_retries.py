"""``retry_on_conflict`` under contention: many commands editing one aggregate at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from forze import (
    AGGREGATES,
    EVENT_STORE,
    DepsModule,
    ExecutionContext,
    Runtime,
    Usecase,
    build_runtime,
    retry_on_conflict,
)
from forze_eventstore import SQLiteEventStore
from forze_examples.bank import ACCOUNTS, OPEN_ACCOUNT, Deposit, OpenAccount
from forze_mock import MockDepsModule

EDITS = 20


async def _deposit_after_a_call(ctx: ExecutionContext, command: Deposit) -> int:
    """Deposit, awaiting another service between the load and the save (a millisecond), so
    that concurrent edits load the same version and all but one conflict on save."""
    async with ctx.aggregates(ACCOUNTS).edit(command.account_id) as account:
        await asyncio.sleep(0.001)
        account.deposit(command.amount)
    return account.balance


DEPOSIT_AFTER_A_CALL = Usecase.command(
    "deposit_after_a_call", _deposit_after_a_call, (AGGREGATES, ACCOUNTS)
)


@asynccontextmanager
async def runtime_on(backend: str, tmp_path: Path) -> AsyncIterator[Runtime]:
    """A runtime with the default ``retry_on_conflict``, its events in ``backend``."""
    modules: list[DepsModule] = [MockDepsModule()]
    if backend == "sqlite":
        path = tmp_path / "events.db"
        sqlite = DepsModule("sqlite").provide_resource(
            EVENT_STORE, lambda _: SQLiteEventStore(path)
        )
        modules.insert(0, sqlite)
    async with build_runtime(
        *modules,
        usecases=[OPEN_ACCOUNT, DEPOSIT_AFTER_A_CALL],
        middleware=[retry_on_conflict()],
    ) as runtime:
        yield runtime


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
async def test_twenty_concurrent_edits_of_one_aggregate_all_succeed_with_the_defaults(
    backend: str, tmp_path: Path
) -> None:
    async with runtime_on(backend, tmp_path) as runtime:
        await runtime.execute(OPEN_ACCOUNT, OpenAccount(account_id="a1", owner="ann"))

        outcomes = await asyncio.gather(
            *(
                runtime.execute(DEPOSIT_AFTER_A_CALL, Deposit(account_id="a1", amount=1))
                for _ in range(EDITS)
            ),
            return_exceptions=True,
        )
        stored = await runtime.port(EVENT_STORE).read_stream("account-a1")

    assert [outcome for outcome in outcomes if isinstance(outcome, BaseException)] == []
    balances = sorted(outcome for outcome in outcomes if isinstance(outcome, int))
    assert balances == list(range(1, EDITS + 1))
    assert len(stored) == 1 + EDITS
