"""One name, one spec: a runtime with two different specs under one name is refused at build."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pydantic import BaseModel

from forze import (
    AGGREGATES,
    READ_MODELS,
    Aggregate,
    AggregateSpec,
    DepsModule,
    DomainEvent,
    EventType,
    ExecutionContext,
    Usecase,
    WiringError,
    build_runtime,
)
from forze.contracts import ReadModelSpec
from forze_eventstore import EventSourcedRepositories, InMemoryEventStore
from forze_examples.bank import (
    ACCOUNTS,
    BALANCES,
    DEPOSIT,
    GET_BALANCE,
    OPEN_ACCOUNT,
    TRANSFER,
    WITHDRAW,
    OpenAccount,
)
from forze_mock import MockDepsModule


class Placed(DomainEvent):
    """The first shape of an order's event."""

    sku: str


class PlacedV2(DomainEvent):
    """A new class for the same kind of fact."""

    sku: str
    quantity: int


class Order(Aggregate[Placed | PlacedV2]):
    """An order that counts what it was told."""

    def __init__(self, order_id: str) -> None:
        super().__init__(order_id)
        self.placed = 0

    def apply(self, event: Placed | PlacedV2) -> None:
        self.placed += 1


OLD_ORDERS = AggregateSpec("order", Order, (EventType("Placed", Placed),))
NEW_ORDERS = AggregateSpec("order", Order, (EventType("Placed", PlacedV2),))


async def _place(ctx: ExecutionContext, sku: str) -> int:
    async with ctx.aggregates(NEW_ORDERS).create(sku) as order:
        order.emit(PlacedV2(sku=sku, quantity=1))
    return order.placed


async def _count(ctx: ExecutionContext, order_id: str) -> int:
    return (await ctx.aggregates(OLD_ORDERS).load(order_id)).placed


PLACE = Usecase.command("place", _place, (AGGREGATES, NEW_ORDERS))
COUNT = Usecase.query("count", _count, (AGGREGATES, OLD_ORDERS))


def test_two_different_aggregate_specs_under_one_name_are_refused_when_the_runtime_is_built() -> (
    None
):
    with pytest.raises(WiringError) as refused:
        build_runtime(MockDepsModule(), usecases=[PLACE, COUNT])
    message = str(refused.value)
    assert "two different aggregate specs are named 'order'" in message
    assert "usecase 'place'" in message
    assert "'count'" in message


async def test_a_usecase_executed_later_with_a_different_spec_under_a_known_name_is_refused() -> (
    None
):
    async with build_runtime(MockDepsModule(), usecases=[PLACE]) as runtime:
        assert await runtime.execute(PLACE, "o-1") == 1
        with pytest.raises(WiringError, match="two different aggregate specs are named 'order'"):
            await runtime.execute(COUNT, "o-1")


async def test_the_same_spec_object_used_by_many_usecases_is_one_spec() -> None:
    usecases: list[Usecase[Any, Any]] = [
        OPEN_ACCOUNT,
        DEPOSIT,
        WITHDRAW,
        TRANSFER,
        GET_BALANCE,
        OPEN_ACCOUNT,
    ]
    async with build_runtime(MockDepsModule(), usecases=usecases) as runtime:
        assert await runtime.execute(OPEN_ACCOUNT, OpenAccount(account_id="a", owner="b")) == 1


def test_an_equal_copy_of_a_spec_is_the_same_spec() -> None:
    copy = dataclasses.replace(ACCOUNTS)
    assert copy is not ACCOUNTS
    opened = Usecase.command("open_copy", OPEN_ACCOUNT.handler, (AGGREGATES, copy))
    build_runtime(MockDepsModule(), usecases=[OPEN_ACCOUNT, opened])


class Balance(BaseModel):
    """Another document type under the name of the bank's read model."""

    id: str
    cents: int


async def _balance(ctx: ExecutionContext, account_id: str) -> Balance | None:
    return await ctx.read_models(OTHER_BALANCES).get(account_id)


OTHER_BALANCES = ReadModelSpec(BALANCES.name, Balance)
OTHER_GET_BALANCE = Usecase.query("other_balance", _balance, (READ_MODELS, OTHER_BALANCES))


def test_two_different_read_model_specs_under_one_name_are_refused_when_the_runtime_is_built() -> (
    None
):
    with pytest.raises(WiringError) as refused:
        build_runtime(MockDepsModule(), usecases=[GET_BALANCE, OTHER_GET_BALANCE])
    message = str(refused.value)
    assert f"two different read model specs are named {BALANCES.name!r}" in message
    assert "'get_balance'" in message
    assert "'other_balance'" in message


def test_an_aggregate_and_a_read_model_may_share_a_name() -> None:
    same_name = ReadModelSpec(ACCOUNTS.name, Balance)
    reader = Usecase.query("reader", _balance, (READ_MODELS, same_name))
    build_runtime(MockDepsModule(), usecases=[OPEN_ACCOUNT, reader])


def test_a_spec_in_a_requirement_routes_the_port_by_its_name() -> None:
    repositories = EventSourcedRepositories(InMemoryEventStore())
    routed = DepsModule("orders").provide(AGGREGATES, repositories, route="order")
    build_runtime(routed, usecases=[PLACE])
    with pytest.raises(WiringError, match=r"needs port aggregates \(route 'order'\)"):
        build_runtime(DepsModule("empty"), usecases=[PLACE])


@pytest.mark.parametrize("key", [AGGREGATES, READ_MODELS])
def test_a_requirement_naming_a_spec_only_by_its_name_is_refused_when_the_runtime_is_built(
    key: Any,
) -> None:
    by_name = Usecase.command("by_name", _place, (key, "order"))
    repositories = EventSourcedRepositories(InMemoryEventStore())
    routed = DepsModule("orders").provide(AGGREGATES, repositories, route="order")
    with pytest.raises(WiringError, match="name the spec object itself"):
        build_runtime(routed, MockDepsModule(), usecases=[by_name])
