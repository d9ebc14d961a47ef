"""A caller's expected version (an HTTP If-Match) holds a command to the version it read, and
the context records what the command stored (the version an HTTP layer sends as ETag)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from forze import EVENT_STORE, ConcurrencyError, Runtime, build_runtime, retry_on_conflict
from forze.contracts import AppendResult
from forze_eventstore import InMemoryEventStore, event_store_module
from forze_examples.bank import (
    DEPOSIT,
    OPEN_ACCOUNT,
    TRANSFER,
    Deposit,
    OpenAccount,
    Transfer,
)


@pytest.fixture
async def runtime() -> AsyncIterator[Runtime]:
    module = event_store_module(InMemoryEventStore())
    usecases = (OPEN_ACCOUNT, DEPOSIT, TRANSFER)
    async with build_runtime(module, usecases=usecases, middleware=[retry_on_conflict()]) as rt:
        for account in ("a", "b"):
            await rt.execute(OPEN_ACCOUNT, OpenAccount(account_id=account, owner=account))
        yield rt


async def test_a_command_at_the_expected_version_runs_and_records_what_it_stored(
    runtime: Runtime,
) -> None:
    saved: list[AppendResult] = []
    await runtime.execute(
        DEPOSIT, Deposit(account_id="a", amount=5), expected_version=1, saved=saved
    )
    assert [(s.stream_id, s.version) for s in saved] == [("account-a", 2)]


async def test_a_command_off_its_expected_version_stores_nothing_and_is_not_retried(
    runtime: Runtime,
) -> None:
    saved: list[AppendResult] = []
    with pytest.raises(ConcurrencyError) as raised:
        await runtime.execute(
            DEPOSIT, Deposit(account_id="a", amount=5), expected_version=7, saved=saved
        )
    assert (raised.value.expected, raised.value.actual) == (7, 1)
    assert saved == []
    store = runtime.port(EVENT_STORE)
    assert await store.stream_version("account-a") == 1


async def test_a_unit_of_work_records_every_stream_it_stored(runtime: Runtime) -> None:
    await runtime.execute(DEPOSIT, Deposit(account_id="a", amount=50))
    saved: list[AppendResult] = []
    command = Transfer(transfer_id="t1", from_account="a", to_account="b", amount=20)
    await runtime.execute(TRANSFER, command, saved=saved)
    assert sorted((s.stream_id, s.version) for s in saved) == [("account-a", 3), ("account-b", 2)]
