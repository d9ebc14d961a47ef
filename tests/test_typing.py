"""The public API's types, checked by mypy --strict (``assert_type``) and run by pytest."""

from __future__ import annotations

from typing import assert_type

from forze import (
    EVENT_STORE,
    READ_MODELS,
    AggregateRepository,
    EventStore,
    ReadModelReader,
    ReadModelStores,
    RecordedEvent,
    build_runtime,
)
from forze.testing import given
from forze_examples.bank import (
    ACCOUNTS,
    BALANCES,
    BALANCES_PROJECTION,
    Account,
    AccountBalance,
    AccountOpened,
    MoneyDeposited,
)
from forze_mock import MockDepsModule
from forze_projections import PROJECTION_BACKEND, Handles, Projector, on


async def test_ports_and_specs_keep_their_types() -> None:
    async with build_runtime(MockDepsModule()) as runtime:
        backend = runtime.port(PROJECTION_BACKEND)
        await Projector(runtime.port(EVENT_STORE), backend, [BALANCES_PROJECTION]).catch_up()
        assert_type(runtime.port(EVENT_STORE), EventStore)
        assert_type(runtime.port(READ_MODELS), ReadModelStores)
        ctx = runtime.context()
        repository = ctx.aggregates(ACCOUNTS)
        assert_type(repository, AggregateRepository[Account])
        assert_type(ctx.read_models(BALANCES), ReadModelReader[AccountBalance])
        async with repository.create("a") as account:
            assert_type(account, Account)
            account.open("ann")
        loaded = await repository.load("a")
        assert_type(loaded, Account)
        assert_type(await repository.execute("a", lambda a: a.balance), int)
        events = await ctx.events.read_all()
        assert_type(events[0], RecordedEvent)
        assert events[0].event_type == "AccountOpened"


def test_aggregate_scenarios_return_the_aggregate_type() -> None:
    account = given(ACCOUNTS, AccountOpened(owner="a", overdraft_limit=0)).state
    assert_type(account, Account)
    assert account.opened


def test_a_typed_handler_must_accept_the_class_it_is_registered_for() -> None:
    async def deposited(
        event: MoneyDeposited, envelope: RecordedEvent, read_models: ReadModelStores
    ) -> None:
        """Handles deposits only."""

    assert_type(on(MoneyDeposited, deposited), Handles[MoneyDeposited])
    wrong = on(AccountOpened, deposited)  # type: ignore[arg-type]  # refused by mypy
    assert wrong.event_class is AccountOpened
