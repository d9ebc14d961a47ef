"""The order-fulfilment example: its saga in scenarios, then on the in-process runner and on
Temporal, fed by a dispatcher from a SQLite store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from forze import Command, DomainError
from forze.contracts import SagaRunner
from forze.execution import Runtime, Usecase, build_runtime
from forze_eventstore import SQLiteDatabase, SQLiteEventStore, event_store_module
from forze_examples.fulfilment import (
    CANCEL_ORDER,
    CHARGE_PAYMENT,
    CONFIRM_PICKING,
    DECLINED_CARD,
    FAILED_REASON,
    FULFILMENT,
    LATE_REASON,
    ORDERS,
    PAYMENTS,
    PICKING_TIMER,
    PICKING_WINDOW,
    PLACE_ORDER,
    RECEIVE_STOCK,
    REFUND_PAYMENT,
    RELEASE_STOCK,
    RESERVE_STOCK,
    SHIP_ORDER,
    STOCK,
    CancelOrder,
    ChargePayment,
    ConfirmPicking,
    OrderPicked,
    OrderPlaced,
    OrderStep,
    PlaceOrder,
    ReceiveStock,
    RefundPayment,
    ReleaseStock,
    ReserveStock,
)
from forze_mock import InProcessSagaRunner
from forze_projections import SQLiteProjectionBackend
from forze_projections.sagas import SagaDispatcher, scenario
from forze_projections.sagas.engine import SagaSnapshot
from forze_temporal import SagaWorker, TemporalSagaRunner, ensure_search_attributes
from tests.temporal_support import temporal_client, time_skipping_env

SKU = "mug"
SETTLE_SECONDS = 20.0

PLACED = OrderPlaced(order_id="o1", sku=SKU, quantity=2, amount=1500, card="visa")
DECLINED = PLACED.model_copy(update={"card": DECLINED_CARD})


# --- the saga alone ------------------------------------------------------------------------


async def test_a_picked_order_is_reserved_charged_shipped_and_completed() -> None:
    outcome = await scenario(FULFILMENT, "o1").given(PLACED, OrderPicked(order_id="o1")).run()
    assert outcome.steps == ["accept", "reserve", "charge", "ship"]
    assert [usecase for usecase, _ in outcome.calls] == [
        "accept_order",
        "reserve_stock",
        "charge_payment",
        "ship_order",
    ]
    assert outcome.calls[2][1] == {"order_id": "o1", "amount": 1500, "card": "visa"}
    assert (outcome.status, outcome.compensated, outcome.timers) == ("completed", [], {})
    assert outcome.state is not None
    assert outcome.state.picked


async def test_a_placed_order_waits_thirty_minutes_for_the_picking() -> None:
    outcome = await scenario(FULFILMENT, "o1").given(PLACED).elapsed(timedelta(minutes=29)).run()
    assert outcome.status == "running"
    assert list(outcome.timers) == [PICKING_TIMER]


async def test_a_declined_card_releases_the_stock_and_cancels_the_order() -> None:
    outcome = await scenario(FULFILMENT, "o1").given(DECLINED).failing("charge").run()
    assert outcome.steps == ["accept", "reserve", "charge"]
    assert outcome.compensated == ["reserve", "accept"]
    assert outcome.calls[-2:] == [
        ("release_stock", {"order_id": "o1", "sku": SKU}),
        ("cancel_order", {"order_id": "o1", "reason": FAILED_REASON}),
    ]
    assert outcome.status == "compensated"
    assert outcome.timers == {}


async def test_an_order_not_picked_in_time_is_cancelled_refunded_and_released() -> None:
    outcome = await (
        scenario(FULFILMENT, "o1")
        .given(PLACED)
        .elapsed(PICKING_WINDOW + timedelta(seconds=1))
        .given(OrderPicked(order_id="o1"))
        .run()
    )
    assert outcome.steps == ["accept", "reserve", "charge", "cancel"]
    assert outcome.compensated == ["charge", "reserve", "accept"]
    assert [usecase for usecase, _ in outcome.calls[3:]] == [
        "cancel_order",
        "refund_payment",
        "release_stock",
        "cancel_order",
    ]
    assert (outcome.status, outcome.error) == ("compensated", LATE_REASON)
    assert outcome.state is not None
    assert (outcome.state.late, outcome.state.picked) == (True, False)


# --- the whole path: usecases, a SQLite store, a dispatcher, a runner ----------------------


@dataclass
class Shop:
    """A SQLite store, a runtime on it, and a dispatcher feeding ``runner``."""

    events: SQLiteEventStore
    runtime: Runtime
    dispatcher: SagaDispatcher

    async def place(self, order_id: str, *, card: str = "visa", quantity: int = 2) -> int:
        """Place an order; the position of its ``OrderPlaced``."""
        order = PlaceOrder(order_id=order_id, sku=SKU, quantity=quantity, amount=1500, card=card)
        await self.runtime.execute(PLACE_ORDER, order)
        return (await self.events.read_stream(ORDERS.stream_id(order_id)))[-1].position

    async def pick(self, order_id: str) -> int:
        """Confirm the picking; the position of ``OrderPicked``."""
        await self.runtime.execute(CONFIRM_PICKING, ConfirmPicking(order_id=order_id))
        return (await self.events.read_stream(ORDERS.stream_id(order_id)))[-1].position

    async def stream(self, stream_id: str) -> list[tuple[str, dict[str, Any]]]:
        """The types and data of a stream's events."""
        return [(e.event_type, dict(e.data)) for e in await self.events.read_stream(stream_id)]

    async def types(self, stream_id: str) -> list[str]:
        """The types of a stream's events."""
        return [event_type for event_type, _ in await self.stream(stream_id)]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[tuple[SQLiteDatabase, SQLiteEventStore, Runtime]]:
    db = SQLiteDatabase(tmp_path / "fulfilment.db")
    events = SQLiteEventStore(db, poll_interval=0.02)
    try:
        async with build_runtime(event_store_module(events)) as runtime:
            await runtime.execute(RECEIVE_STOCK, ReceiveStock(sku=SKU, quantity=5))
            yield db, events, runtime
    finally:
        db.close()


def _shop(
    store: tuple[SQLiteDatabase, SQLiteEventStore, Runtime], runner: SagaRunner, **options: Any
) -> Shop:
    db, events, runtime = store
    backend = SQLiteProjectionBackend(db)
    dispatcher = SagaDispatcher(
        events, backend, runner, name="fulfilment", sagas=[FULFILMENT], **options
    )
    return Shop(events, runtime, dispatcher)


@pytest.fixture
def in_process(
    store: tuple[SQLiteDatabase, SQLiteEventStore, Runtime],
) -> tuple[Shop, InProcessSagaRunner]:
    runner = InProcessSagaRunner(store[2], [FULFILMENT])
    return _shop(store, runner), runner


async def test_in_process_an_order_is_reserved_charged_then_shipped_once_picked(
    in_process: tuple[Shop, InProcessSagaRunner],
) -> None:
    shop, runner = in_process
    await shop.place("o1")
    await shop.dispatcher.catch_up()
    assert await shop.types(STOCK.stream_id(SKU)) == ["StockReceived", "StockReserved"]
    assert await shop.stream(PAYMENTS.stream_id("o1")) == [("PaymentCharged", {"amount": 1500})]
    running = runner.instance(FULFILMENT.name, "o1")
    assert running is not None
    assert running.status == "running"
    assert running.timers == {PICKING_TIMER: runner.now() + PICKING_WINDOW}

    await shop.pick("o1")
    status = await shop.dispatcher.catch_up()
    assert await shop.types(ORDERS.stream_id("o1")) == [
        "OrderPlaced",
        "OrderPicked",
        "OrderShipped",
    ]
    done = runner.instance(FULFILMENT.name, "o1")
    assert done is not None
    assert (done.status, done.timers) == ("completed", {})
    assert status.instances == {
        "fulfilment": {"running": 0, "completed": 1, "compensated": 0, "failed": 0}
    }
    stock = await shop.runtime.context().aggregates(STOCK).load(SKU)
    assert (stock.available, stock.held) == (3, {"o1": 2})
    payment = await shop.runtime.context().aggregates(PAYMENTS).load("o1")
    assert (payment.status, payment.amount) == ("charged", 1500)
    assert await runner.advance(PICKING_WINDOW * 2) == 0


async def test_in_process_delivering_the_feed_again_changes_nothing(
    in_process: tuple[Shop, InProcessSagaRunner],
) -> None:
    shop, runner = in_process
    await shop.place("o1")
    await shop.pick("o1")  # before the saga caught up: it ships all the same
    await shop.dispatcher.catch_up()
    await shop.dispatcher.backend.checkpoints.reset(shop.dispatcher.checkpoint_name)
    status = await shop.dispatcher.catch_up()
    assert status.delivered == 4  # twice each of OrderPlaced and OrderPicked
    assert status.instances["fulfilment"]["completed"] == 1
    assert len(runner.steps_run) == 4
    assert await shop.types(STOCK.stream_id(SKU)) == ["StockReceived", "StockReserved"]
    assert await shop.types(ORDERS.stream_id("o1")) == [
        "OrderPlaced",
        "OrderPicked",
        "OrderShipped",
    ]


async def test_each_step_run_twice_changes_its_aggregate_once(
    store: tuple[SQLiteDatabase, SQLiteEventStore, Runtime],
) -> None:
    _, events, runtime = store
    await runtime.execute(
        PLACE_ORDER, PlaceOrder(order_id="o1", sku=SKU, quantity=2, amount=9, card="v")
    )
    twice: list[tuple[Usecase[Any, Any], Command]] = [
        (RESERVE_STOCK, ReserveStock(order_id="o1", sku=SKU, quantity=2)),
        (RELEASE_STOCK, ReleaseStock(order_id="o1", sku=SKU)),
        (RESERVE_STOCK, ReserveStock(order_id="o1", sku=SKU, quantity=2)),
        (CHARGE_PAYMENT, ChargePayment(order_id="o1", amount=9, card="v")),
        (REFUND_PAYMENT, RefundPayment(order_id="o1")),
        (CHARGE_PAYMENT, ChargePayment(order_id="o1", amount=9, card="v")),
        (CANCEL_ORDER, CancelOrder(order_id="o1", reason="changed my mind")),
    ]
    for usecase, payload in twice:
        await runtime.execute(usecase, payload)
        await runtime.execute(usecase, payload)

    async def types(stream_id: str) -> list[str]:
        return [e.event_type for e in await events.read_stream(stream_id)]

    assert await types(STOCK.stream_id(SKU)) == ["StockReceived", "StockReserved", "StockReleased"]
    assert await types(PAYMENTS.stream_id("o1")) == ["PaymentCharged", "PaymentRefunded"]
    assert await types(ORDERS.stream_id("o1")) == ["OrderPlaced", "OrderCancelled"]
    with pytest.raises(DomainError, match="cancelled"):
        await runtime.execute(SHIP_ORDER, OrderStep(order_id="o1"))


async def test_in_process_a_declined_card_releases_the_stock_and_cancels_the_order(
    in_process: tuple[Shop, InProcessSagaRunner],
) -> None:
    shop, runner = in_process
    await shop.place("o1", card=DECLINED_CARD)
    await shop.dispatcher.catch_up()
    await _assert_declined(shop, await _final(runner.instance(FULFILMENT.name, "o1")))
    stock = await shop.runtime.context().aggregates(STOCK).load(SKU)
    assert (stock.available, stock.held) == (5, {})


async def test_in_process_an_order_not_picked_in_time_is_undone(
    in_process: tuple[Shop, InProcessSagaRunner],
) -> None:
    shop, runner = in_process
    await shop.place("o1")
    await shop.dispatcher.catch_up()
    assert await runner.advance(PICKING_WINDOW - timedelta(seconds=1)) == 0
    assert await runner.advance(timedelta(seconds=1)) == 1
    await _assert_late(shop, await _final(runner.instance(FULFILMENT.name, "o1")))
    with pytest.raises(DomainError, match="cancelled"):
        await shop.pick("o1")
    payment = await shop.runtime.context().aggregates(PAYMENTS).load("o1")
    assert payment.status == "refunded"


async def test_in_process_too_little_stock_cancels_the_order_without_charging(
    in_process: tuple[Shop, InProcessSagaRunner],
) -> None:
    shop, runner = in_process
    await shop.place("o1", quantity=6)
    await shop.dispatcher.catch_up()
    snapshot = await _final(runner.instance(FULFILMENT.name, "o1"))
    assert (snapshot.status, snapshot.compensated) == ("compensated", ["accept"])
    assert "OutOfStock" in str(snapshot.error)
    assert await shop.types(STOCK.stream_id(SKU)) == ["StockReceived"]
    assert await shop.types(PAYMENTS.stream_id("o1")) == []
    assert await shop.types(ORDERS.stream_id("o1")) == ["OrderPlaced", "OrderCancelled"]


async def _final(snapshot: SagaSnapshot | None) -> SagaSnapshot:
    assert snapshot is not None
    return snapshot


async def _assert_declined(shop: Shop, snapshot: SagaSnapshot) -> None:
    """A declined card: the stock released, the order cancelled, nothing charged."""
    assert (snapshot.status, snapshot.compensated) == ("compensated", ["reserve", "accept"])
    assert "PaymentDeclined" in str(snapshot.error)
    assert await shop.stream(STOCK.stream_id(SKU)) == [
        ("StockReceived", {"quantity": 5}),
        ("StockReserved", {"order_id": "o1", "quantity": 2}),
        ("StockReleased", {"order_id": "o1", "quantity": 2}),
    ]
    assert await shop.types(PAYMENTS.stream_id("o1")) == []
    orders = await shop.stream(ORDERS.stream_id("o1"))
    assert [event_type for event_type, _ in orders] == ["OrderPlaced", "OrderCancelled"]
    assert orders[1][1] == {"order_id": "o1", "reason": FAILED_REASON}


async def _assert_late(shop: Shop, snapshot: SagaSnapshot) -> None:
    """Not picked in time: cancelled first, then refunded and released, each once."""
    assert (snapshot.status, snapshot.error) == ("compensated", LATE_REASON)
    assert snapshot.compensated == ["charge", "reserve", "accept"]
    orders = await shop.stream(ORDERS.stream_id("o1"))
    assert orders == [
        orders[0],
        ("OrderCancelled", {"order_id": "o1", "reason": LATE_REASON}),
    ]
    assert await shop.stream(PAYMENTS.stream_id("o1")) == [
        ("PaymentCharged", {"amount": 1500}),
        ("PaymentRefunded", {"amount": 1500}),
    ]
    assert await shop.types(STOCK.stream_id(SKU)) == [
        "StockReceived",
        "StockReserved",
        "StockReleased",
    ]


# --- on Temporal ---------------------------------------------------------------------------


async def _settled(
    read: Callable[[], Awaitable[SagaSnapshot | None]], until: Callable[[SagaSnapshot], bool]
) -> SagaSnapshot:
    """The instance once ``until`` holds (``AssertionError`` after ``SETTLE_SECONDS``)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        found = await read()
        if found is not None and until(found):
            return found
        assert time.monotonic() < deadline, f"the instance is {found!r}"
        await asyncio.sleep(0.05)


def _waiting_for_picking(snapshot: SagaSnapshot) -> bool:
    return snapshot.steps == 3 and bool(snapshot.timers)


def _ended(snapshot: SagaSnapshot) -> bool:
    return snapshot.status != "running"


@pytest.fixture
async def time_skipping(
    store: tuple[SQLiteDatabase, SQLiteEventStore, Runtime],
) -> AsyncIterator[tuple[Shop, TemporalSagaRunner, Callable[[timedelta], Awaitable[None]]]]:
    queue = f"fulfilment-{uuid4().hex[:8]}"
    async with time_skipping_env() as env:
        runner = TemporalSagaRunner(
            env.client, [FULFILMENT], task_queue=queue, search_attributes=False
        )
        async with SagaWorker(env.client, store[2], [FULFILMENT], task_queue=queue):
            yield _shop(store, runner), runner, env.sleep


class TestOnTheTimeSkippingServer:
    """The three paths as Temporal workflows; time passes when the test lets it. A live
    dispatcher feeds them: ``catch_up`` ends by counting instances, which a server without
    visibility cannot."""

    async def test_an_order_is_shipped_once_picked(
        self,
        time_skipping: tuple[Shop, TemporalSagaRunner, Callable[[timedelta], Awaitable[None]]],
    ) -> None:
        shop, runner, _ = time_skipping
        read = lambda: runner.instance(FULFILMENT.name, "o1")  # noqa: E731
        async with shop.dispatcher as dispatcher:
            await dispatcher.wait_until(await shop.place("o1"), timeout=SETTLE_SECONDS)
            await _settled(read, _waiting_for_picking)
            assert await shop.types(PAYMENTS.stream_id("o1")) == ["PaymentCharged"]
            await dispatcher.wait_until(await shop.pick("o1"), timeout=SETTLE_SECONDS)
            done = await _settled(read, _ended)
        assert (done.status, done.compensated) == ("completed", [])
        assert await shop.types(ORDERS.stream_id("o1")) == [
            "OrderPlaced",
            "OrderPicked",
            "OrderShipped",
        ]
        assert await shop.types(STOCK.stream_id(SKU)) == ["StockReceived", "StockReserved"]

    async def test_a_declined_card_releases_the_stock_and_cancels_the_order(
        self,
        time_skipping: tuple[Shop, TemporalSagaRunner, Callable[[timedelta], Awaitable[None]]],
    ) -> None:
        shop, runner, _ = time_skipping
        async with shop.dispatcher as dispatcher:
            placed = await shop.place("o1", card=DECLINED_CARD)
            await dispatcher.wait_until(placed, timeout=SETTLE_SECONDS)
        snapshot = await _settled(lambda: runner.instance(FULFILMENT.name, "o1"), _ended)
        await _assert_declined(shop, snapshot)

    async def test_an_order_not_picked_in_time_is_undone(
        self,
        time_skipping: tuple[Shop, TemporalSagaRunner, Callable[[timedelta], Awaitable[None]]],
    ) -> None:
        shop, runner, sleep = time_skipping
        async with shop.dispatcher as dispatcher:
            await dispatcher.wait_until(await shop.place("o1"), timeout=SETTLE_SECONDS)
        read = lambda: runner.instance(FULFILMENT.name, "o1")  # noqa: E731
        await _settled(read, _waiting_for_picking)
        await sleep(PICKING_WINDOW + timedelta(seconds=1))
        await _assert_late(shop, await _settled(read, _ended))


async def test_on_the_dev_server_a_live_dispatcher_fulfils_a_picked_order(
    store: tuple[SQLiteDatabase, SQLiteEventStore, Runtime],
) -> None:
    run = uuid4().hex[:8]
    queue = f"fulfilment-{run}"
    client = await temporal_client()
    await ensure_search_attributes(client)
    runner = TemporalSagaRunner(client, [FULFILMENT], task_queue=queue, id_prefix=f"{run}-")
    shop = _shop(store, runner)
    read = lambda: runner.instance(FULFILMENT.name, "o1")  # noqa: E731
    async with (
        SagaWorker(client, store[2], [FULFILMENT], task_queue=queue),
        shop.dispatcher as dispatcher,
    ):
        await dispatcher.wait_until(await shop.place("o1"), timeout=SETTLE_SECONDS)
        await _settled(read, _waiting_for_picking)
        await dispatcher.wait_until(await shop.pick("o1"), timeout=SETTLE_SECONDS)
        done = await _settled(read, _ended)
        assert done.status == "completed"
        assert await shop.types(ORDERS.stream_id("o1")) == [
            "OrderPlaced",
            "OrderPicked",
            "OrderShipped",
        ]
        assert await shop.types(PAYMENTS.stream_id("o1")) == ["PaymentCharged"]
        expected = {"running": 0, "completed": 1, "compensated": 0, "failed": 0}
        assert await _counted(runner, expected) == expected


async def _counted(runner: TemporalSagaRunner, expected: dict[str, int]) -> dict[str, int]:
    """The runner's counts once they are ``expected`` (visibility lags), or after a while."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        found = await runner.counts(FULFILMENT.name)
        if found == expected or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)
