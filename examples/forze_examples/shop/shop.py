"""``run_shop``: both contexts on one broker, and what a client or a test does with them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass

from forze import Publisher
from forze_examples.shop.contexts import (
    ORDERS_CONTEXT,
    PAYMENTS_CONTEXT,
    Channel,
    RunningContext,
    ShopSettings,
    running,
)
from forze_examples.shop.orders import ORDERS
from forze_examples.shop.orders_usecases import PLACE_ORDER, PlaceOrder

__all__ = ["Shop", "ShopBroker", "run_shop"]

SETTLED = frozenset({"paid", "cancelled"})
"""The statuses an order ends in."""


@dataclass(frozen=True, slots=True)
class ShopBroker:
    """A broker as the shop uses it: ``publisher()`` makes a publisher (one per relay),
    ``to_payments`` carries the orders' events to the payments context and ``to_orders`` the
    payments' events back."""

    name: str
    publisher: Callable[[], Publisher]
    to_payments: Channel
    to_orders: Channel


@dataclass(frozen=True, slots=True)
class Shop:
    """Both contexts running. They share nothing but the broker."""

    orders: RunningContext
    payments: RunningContext

    async def place_order(
        self, order_id: str, customer: str, amount: int, *, correlation_id: str | None = None
    ) -> int:
        """Run ``place_order`` in the orders context; the order's version."""
        command = PlaceOrder(order_id=order_id, customer=customer, amount=amount)
        return await self.orders.runtime.execute(
            PLACE_ORDER, command, correlation_id=correlation_id
        )

    async def order_status(self, order_id: str) -> str:
        """``placed``, ``paid`` or ``cancelled``, as the orders context knows it now."""
        order = await self.orders.runtime.context().aggregates(ORDERS).load(order_id)
        return order.status

    async def settled(self, order_ids: Collection[str], *, timeout: float) -> dict[str, str]:  # noqa: ASYNC109 - the wait's own deadline
        """Wait until every order is paid or cancelled; their statuses. ``TimeoutError``
        after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            while True:
                statuses = {order_id: await self.order_status(order_id) for order_id in order_ids}
                if set(statuses.values()) <= SETTLED:
                    return statuses
                await asyncio.sleep(0.02)


@asynccontextmanager
async def run_shop(broker: ShopBroker, settings: ShopSettings | None = None) -> AsyncIterator[Shop]:
    """Run the orders and payments contexts, each with its own event store, relay and
    consumer, talking through ``broker``; stop both (and close the publishers) at the end."""
    options = settings or ShopSettings()
    orders_out, payments_out = broker.publisher(), broker.publisher()
    try:
        async with (
            running(
                ORDERS_CONTEXT, orders_out, broker.to_payments, broker.to_orders, options
            ) as orders,
            running(
                PAYMENTS_CONTEXT, payments_out, broker.to_orders, broker.to_payments, options
            ) as payments,
        ):
            yield Shop(orders, payments)
    finally:
        await orders_out.close()
        await payments_out.close()
