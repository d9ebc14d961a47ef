"""The bank example, tested through forze.testing: aggregates, usecases, the projection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from forze import EVENT_STORE, READ_MODELS, DomainError, Runtime, build_runtime
from forze import retry_on_conflict as retry
from forze.adapter_kit import CHECKPOINTS
from forze.testing import UsecaseScenario, given
from forze_examples.bank import (
    ACCOUNTS,
    BALANCES,
    BALANCES_PROJECTION,
    DEPOSIT,
    GET_BALANCE,
    OPEN_ACCOUNT,
    TRANSFER,
    WITHDRAW,
    AccountOpened,
    Deposit,
    GetBalance,
    InsufficientFunds,
    MoneyDeposited,
    MoneyWithdrawn,
    OpenAccount,
    Transfer,
    TransferReceived,
    TransferSent,
    Withdraw,
)
from forze_mock import MockDepsModule
from forze_projections import PROJECTION_BACKEND, Projector

OPENED = AccountOpened(owner="ann", overdraft_limit=100)


class TestAccountAggregate:
    def test_a_deposit_into_an_open_account_is_recorded(self) -> None:
        given(ACCOUNTS, OPENED).when(lambda a: a.deposit(50)).then(MoneyDeposited(amount=50))

    def test_a_withdrawal_may_use_the_overdraft(self) -> None:
        account = (
            given(ACCOUNTS, OPENED, MoneyDeposited(amount=20))
            .when(lambda a: a.withdraw(120))
            .then(MoneyWithdrawn(amount=120))
        )
        assert account.balance == -100

    def test_a_withdrawal_past_the_overdraft_limit_is_refused(self) -> None:
        error = (
            given(ACCOUNTS, OPENED)
            .when(lambda a: a.withdraw(101))
            .then_raises(InsufficientFunds, match="overdraft limit 100")
        )
        assert "account 1" in str(error)

    def test_money_cannot_move_on_an_account_that_is_not_open(self) -> None:
        given(ACCOUNTS).when(lambda a: a.deposit(5)).then_raises(DomainError, match="not open")

    def test_a_transfer_already_sent_is_not_sent_twice(self) -> None:
        sent = TransferSent(transfer_id="t1", to_account="2", amount=5)
        given(ACCOUNTS, OPENED, sent).when(lambda a: a.send_transfer("t1", "2", 5)).then()

    def test_a_snapshot_restores_the_same_state(self) -> None:
        account = given(ACCOUNTS, OPENED, MoneyDeposited(amount=7)).state
        copy = ACCOUNTS.factory("1")
        copy.restore_snapshot(account.snapshot_state())
        assert copy.snapshot_state() == account.snapshot_state()


@pytest.fixture
async def runtime() -> AsyncIterator[Runtime]:
    usecases = (OPEN_ACCOUNT, DEPOSIT, WITHDRAW, TRANSFER, GET_BALANCE)
    async with build_runtime(
        MockDepsModule(), usecases=usecases, middleware=[retry(attempts=10)]
    ) as running:
        yield running


class TestBankUsecases:
    async def test_opening_an_account_records_it(self, runtime: Runtime) -> None:
        scenario = UsecaseScenario(runtime)
        await scenario.when(OPEN_ACCOUNT, OpenAccount(account_id="a", owner="ann"), actor="clerk")
        await scenario.then(ACCOUNTS, "a", AccountOpened(owner="ann", overdraft_limit=0))
        (event,) = await runtime.port(EVENT_STORE).read_stream("account-a")
        assert event.metadata["actor"] == "clerk"
        assert event.metadata["schema_version"] == 1

    async def test_opening_an_account_twice_conflicts(self, runtime: Runtime) -> None:
        scenario = UsecaseScenario(runtime)
        await scenario.given(ACCOUNTS, "a", OPENED)
        await scenario.when(OPEN_ACCOUNT, OpenAccount(account_id="a", owner="bob"))
        await scenario.then_raises(Exception, match="expected version NO_STREAM")

    async def test_a_withdrawal_past_the_limit_records_nothing(self, runtime: Runtime) -> None:
        scenario = UsecaseScenario(runtime)
        await scenario.given(ACCOUNTS, "a", OPENED)
        await scenario.when(WITHDRAW, Withdraw(account_id="a", amount=500))
        await scenario.then_raises(InsufficientFunds)

    async def test_a_transfer_debits_one_account_and_credits_the_other(
        self, runtime: Runtime
    ) -> None:
        scenario = UsecaseScenario(runtime)
        await scenario.given(ACCOUNTS, "a", OPENED, MoneyDeposited(amount=50))
        await scenario.given(ACCOUNTS, "b", OPENED)
        command = Transfer(transfer_id="t1", from_account="a", to_account="b", amount=30)
        await scenario.when(TRANSFER, command)
        await scenario.then(
            ACCOUNTS, "a", TransferSent(transfer_id="t1", to_account="b", amount=30)
        )
        await scenario.then(
            ACCOUNTS, "b", TransferReceived(transfer_id="t1", from_account="a", amount=30)
        )
        await scenario.when(TRANSFER, command)
        await scenario.then(ACCOUNTS, "a")
        await scenario.then(ACCOUNTS, "b")

    async def test_concurrent_deposits_are_retried_and_none_is_lost(self, runtime: Runtime) -> None:
        await runtime.execute(OPEN_ACCOUNT, OpenAccount(account_id="a", owner="ann"))
        store = runtime.port(EVENT_STORE)
        original = store.read_stream

        async def slow_read(*args: object, **kwargs: object) -> object:
            await asyncio.sleep(0)  # let other commands interleave, as a networked store would
            return await original(*args, **kwargs)  # type: ignore[arg-type]

        store.read_stream = slow_read  # type: ignore[method-assign,assignment]
        await asyncio.gather(
            *(runtime.execute(DEPOSIT, Deposit(account_id="a", amount=1)) for _ in range(20))
        )
        account = await runtime.context().aggregates(ACCOUNTS).load("a")
        assert account.balance == 20
        assert account.version == 21

    async def test_the_balance_read_model_is_built_from_history(self, runtime: Runtime) -> None:
        await runtime.execute(OPEN_ACCOUNT, OpenAccount(account_id="a", owner="ann"))
        await runtime.execute(OPEN_ACCOUNT, OpenAccount(account_id="b", owner="bob"))
        await runtime.execute(DEPOSIT, Deposit(account_id="a", amount=70))
        await runtime.execute(
            TRANSFER, Transfer(transfer_id="t", from_account="a", to_account="b", amount=20)
        )
        projector = Projector(
            runtime.port(EVENT_STORE),
            runtime.port(PROJECTION_BACKEND),
            [BALANCES_PROJECTION],
            batch_size=2,
        )
        (status,) = await projector.catch_up()
        assert (status.checkpoint, status.lag_events) == (status.head, 0)
        a = await runtime.execute(GET_BALANCE, GetBalance(account_id="a"))
        b = await runtime.execute(GET_BALANCE, GetBalance(account_id="b"))
        assert (a and a.balance, b and b.balance) == (50, 20)
        await runtime.port(CHECKPOINTS).reset(BALANCES_PROJECTION.checkpoint_name)
        await projector.catch_up()
        again = await runtime.port(READ_MODELS)(BALANCES).get("a")
        assert again is not None
        assert again.balance == 50
