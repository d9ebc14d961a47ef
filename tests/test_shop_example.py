"""The shop example: orders and payments, two bounded contexts with their own event stores,
talk only through a broker. The same scenario runs on the in-memory broker, Redis Streams,
RabbitMQ and SQS (standard and FIFO, on moto): every order ends paid or cancelled, each
message's effect is appended once although every message is delivered twice, and the
correlation and causation ids chain from the order's command to the payment and back."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from uuid import uuid4, uuid5

import aio_pika
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forze import (
    Backoff,
    ConcurrencyError,
    DomainError,
    EventStoreUnavailable,
    ExecutionContext,
    Handler,
    RecordedEvent,
)
from forze.adapter_kit import EventIds
from forze_examples.shop import (
    CHARGE_LIMIT,
    ORDERS,
    PAYMENTS,
    Charge,
    Order,
    Shop,
    ShopBroker,
    ShopSettings,
    in_memory_broker,
    rabbitmq_broker,
    redis_broker,
    run_shop,
    sqs_broker,
)
from forze_mock import InMemoryBroker
from forze_rabbitmq import RabbitSettings, dead_letter_queue_of, delay_queue_of
from forze_redis import connect
from tests.redis_support import REDIS_URL, delete_prefixed, new_prefix
from tests.test_rabbitmq_broker import URL as RABBITMQ_URL
from tests.test_sqs_broker import SETTINGS as SQS_SETTINGS

ORDERS_PLACED = [
    ("o1", "ann", 1_200),
    ("o2", "bob", CHARGE_LIMIT + 1),
    ("o3", "cy", CHARGE_LIMIT),
    ("o4", "di", 90_000),
    ("o5", "ed", 1),
    ("o6", "flo", 30_000),
]
EXPECTED = {
    "o1": "paid",
    "o2": "cancelled",
    "o3": "paid",
    "o4": "cancelled",
    "o5": "paid",
    "o6": "paid",
}
"""Over ``CHARGE_LIMIT`` the payment is declined and the order cancelled."""

BROKERS = ["memory", "redis", "rabbitmq", "sqs", "sqs-fifo"]


class LostAcks:
    """Middleware: every message's first handling commits, then fails as if its ack was lost
    (a transient error), so the broker delivers it again. Counts, per message id, the
    handlings that returned (``handled``) and the ones that raised on their own (``failed``).
    """

    def __init__(self, messages: int) -> None:
        self.handled: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self._messages = messages
        self._all_twice = asyncio.Event()

    async def __call__(self, ctx: ExecutionContext, payload: Any, call_next: Handler) -> Any:
        message_id = ctx.causation_id
        if message_id is None:  # a client's command, not a message
            return await call_next(ctx, payload)
        try:
            result = await call_next(ctx, payload)
        except Exception:
            self.failed[message_id] += 1
            raise
        self.handled[message_id] += 1
        if len(self.handled) >= self._messages and min(self.handled.values()) >= 2:
            self._all_twice.set()
        if self.handled[message_id] == 1:
            raise EventStoreUnavailable(f"lost the ack of {message_id} after the commit")
        return result

    async def each_handled_twice(self, timeout: float) -> None:  # noqa: ASYNC109 - the wait's own deadline
        """Wait until every expected message was handled, and handled again without error
        after its redelivery."""
        await asyncio.wait_for(self._all_twice.wait(), timeout)


@asynccontextmanager
async def broker_of(kind: str) -> AsyncIterator[ShopBroker]:
    """The shop's broker of ``kind`` on fresh streams, queues or exchange, removed afterwards
    (SQS queues stay on the moto server)."""
    prefix = f"forze-shop-{uuid4().hex[:12]}-"
    if kind == "memory":
        yield in_memory_broker(InMemoryBroker(), prefix)
    elif kind == "redis":
        admin, redis_prefix = connect(REDIS_URL), new_prefix()
        try:
            yield redis_broker(REDIS_URL, redis_prefix, claim_after_seconds=2.0)
        finally:
            await delete_prefixed(admin, redis_prefix)
            await admin.aclose()
    elif kind == "rabbitmq":
        rabbit = RabbitSettings(url=RABBITMQ_URL, exchange=prefix, timeout_seconds=10.0)
        try:
            yield await rabbitmq_broker(rabbit, prefix)
        finally:
            await _delete_rabbitmq(prefix)
    else:
        yield await sqs_broker(SQS_SETTINGS, prefix, fifo=kind == "sqs-fifo", visibility_timeout=5)


async def _delete_rabbitmq(prefix: str) -> None:
    connection = await aio_pika.connect(RABBITMQ_URL, timeout=10)
    try:
        channel = await connection.channel()
        for inbox in (f"{prefix}payments", f"{prefix}orders"):
            for queue in (inbox, delay_queue_of(inbox), dead_letter_queue_of(inbox)):
                await channel.queue_delete(queue)
        await channel.exchange_delete(prefix)
    finally:
        await connection.close()


def quick(lost: LostAcks | None = None) -> ShopSettings:
    """Settings that keep a broker's run to a few seconds."""
    return ShopSettings(
        lease_seconds=1.0,
        wait_seconds=0.2,
        backoff=Backoff(0.05, 0.5),
        grace_seconds=5.0,
        middleware=() if lost is None else (lost,),
    )


async def events_of(
    shop: Shop,
) -> tuple[dict[str, Sequence[RecordedEvent]], Sequence[RecordedEvent]]:
    """Each order's events (orders' store) and every payment event (payments' store)."""
    orders = {
        order_id: await shop.orders.events.read_stream(ORDERS.stream_id(order_id))
        for order_id, _, _ in ORDERS_PLACED
    }
    return orders, await shop.payments.events.read_all(after=0)


def derived_ids(message: RecordedEvent, stream_id: str, count: int) -> list[Any]:
    """The ids of the events a consumer appends to ``stream_id`` handling ``message``."""
    return [uuid5(EventIds.NAMESPACE, f"{message.event_id}/{stream_id}/{n}") for n in range(count)]


@pytest.mark.parametrize("kind", BROKERS)
async def test_every_order_is_paid_or_cancelled_once_through_the_broker(kind: str) -> None:
    lost = LostAcks(2 * len(ORDERS_PLACED))
    async with broker_of(kind) as broker, run_shop(broker, quick(lost)) as shop:
        for order_id, customer, amount in ORDERS_PLACED:
            await shop.place_order(order_id, customer, amount, correlation_id=f"req-{order_id}")
        statuses = await shop.settled(EXPECTED, timeout=30)
        await lost.each_handled_twice(timeout=30)
        orders, payments = await events_of(shop)
    assert statuses == EXPECTED
    assert sorted(lost.handled.values()) == [2] * (2 * len(ORDERS_PLACED))
    assert not lost.failed
    outcome = {"paid": "OrderPaid", "cancelled": "OrderCancelled"}
    for order_id, status in EXPECTED.items():
        assert [e.event_type for e in orders[order_id]] == ["OrderPlaced", outcome[status]]
    assert Counter(e.event_type for e in payments) == {
        "PaymentRequested": 6,
        "PaymentCaptured": 4,
        "PaymentDeclined": 2,
    }


@pytest.mark.parametrize("kind", BROKERS)
async def test_correlation_and_causation_ids_chain_from_the_command_to_the_payment_and_back(
    kind: str,
) -> None:
    async with broker_of(kind) as broker, run_shop(broker, quick()) as shop:
        await shop.place_order("o9", "gus", 700, correlation_id="req-o9")
        assert await shop.settled(["o9"], timeout=30) == {"o9": "paid"}
        placed, paid = await shop.orders.events.read_stream(ORDERS.stream_id("o9"))
        payment_stream = PAYMENTS.stream_id("o9")
        requested, captured = await shop.payments.events.read_stream(payment_stream)
    assert placed.metadata["correlation_id"] == "req-o9"
    assert "causation_id" not in placed.metadata
    for caused in (requested, captured):
        assert caused.metadata["correlation_id"] == "req-o9"
        assert caused.metadata["causation_id"] == str(placed.event_id)
    assert [requested.event_id, captured.event_id] == derived_ids(placed, payment_stream, 2)
    assert paid.metadata["correlation_id"] == "req-o9"
    assert paid.metadata["causation_id"] == str(captured.event_id)
    assert paid.event_id == derived_ids(captured, ORDERS.stream_id("o9"), 1)[0]


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(amounts=st.lists(st.integers(1, 2 * CHARGE_LIMIT), min_size=1, max_size=6))
async def test_an_order_is_paid_exactly_when_its_amount_is_within_the_limit(
    amounts: list[int],
) -> None:
    async with broker_of("memory") as broker, run_shop(broker, quick()) as shop:
        for n, amount in enumerate(amounts):
            await shop.place_order(f"h{n}", "hal", amount)
        statuses = await shop.settled([f"h{n}" for n in range(len(amounts))], timeout=10)
    assert statuses == {
        f"h{n}": "paid" if amount <= CHARGE_LIMIT else "cancelled"
        for n, amount in enumerate(amounts)
    }


async def test_a_second_order_with_the_same_id_is_refused_and_charged_nothing() -> None:
    async with broker_of("memory") as broker, run_shop(broker, quick()) as shop:
        await shop.place_order("o1", "ann", 100)
        with pytest.raises(ConcurrencyError):
            await shop.place_order("o1", "ann", 100)
        await shop.settled(["o1"], timeout=10)
        assert len(await shop.payments.events.read_all(after=0)) == 2


def test_paying_or_cancelling_again_is_a_no_op_and_paying_another_amount_is_refused() -> None:
    order = Order("o1")
    order.place("ann", 500)
    with pytest.raises(DomainError, match="paid 400, expected 500"):
        order.mark_paid(400)
    order.mark_paid(500)
    order.mark_paid(500)
    assert [type(e).__name__ for e in order.pending_events] == ["OrderPlaced", "OrderPaid"]
    with pytest.raises(DomainError, match="is paid, not placed"):
        order.cancel("too late")
    declined = Order("o2")
    declined.place("bo", 900)
    declined.cancel("declined")
    declined.cancel("declined again")
    assert declined.status == "cancelled"
    assert len(declined.pending_events) == 2


def test_charge_reads_an_order_placed_message_tolerantly() -> None:
    data = {"order_id": "o1", "customer": "ann", "amount": 500, "added_later": True}
    assert Charge.model_validate(data) == Charge(order_id="o1", amount=500)
