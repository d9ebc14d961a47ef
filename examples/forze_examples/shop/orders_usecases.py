"""The orders context's usecases: ``place_order`` (a command from a client) and ``mark_paid``
and ``cancel_order`` (called by its consumer on the payments context's events)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ConfigDict

from forze import Command, ExecutionContext, Usecase
from forze_examples.shop.orders import ORDERS

__all__ = [
    "CANCEL_ORDER",
    "MARK_PAID",
    "ORDERS_INBOX",
    "ORDERS_PUBLISHES",
    "ORDERS_USECASES",
    "PLACE_ORDER",
    "CancelOrder",
    "MarkPaid",
    "PlaceOrder",
]


class PlaceOrder(Command):
    """Place order ``order_id`` of ``amount`` cents for ``customer``."""

    order_id: str
    customer: str
    amount: int


class MarkPaid(Command):
    """The order's payment was captured (read from a ``PaymentCaptured`` message).

    A tolerant reader: fields of the message this context does not need are ignored, so the
    payments context may add some without breaking this one.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    order_id: str
    amount: int


class CancelOrder(Command):
    """The order's payment was declined (read from a ``PaymentDeclined`` message, tolerantly)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    order_id: str
    reason: str


async def _place_order(ctx: ExecutionContext, command: PlaceOrder) -> int:
    """Place the order; ``ConcurrencyError`` if it exists. Its new version."""
    async with ctx.aggregates(ORDERS).create(command.order_id) as order:
        order.place(command.customer, command.amount)
    return order.version


async def _mark_paid(ctx: ExecutionContext, command: MarkPaid) -> None:
    """Mark the order paid (a no-op when it is already)."""
    await ctx.aggregates(ORDERS).execute(command.order_id, lambda o: o.mark_paid(command.amount))


async def _cancel_order(ctx: ExecutionContext, command: CancelOrder) -> None:
    """Cancel the order (a no-op when it is already)."""
    await ctx.aggregates(ORDERS).execute(command.order_id, lambda o: o.cancel(command.reason))


PLACE_ORDER = Usecase.command("place_order", _place_order, ORDERS)
MARK_PAID = Usecase.command("mark_paid", _mark_paid, ORDERS)
CANCEL_ORDER = Usecase.command("cancel_order", _cancel_order, ORDERS)

ORDERS_USECASES = (PLACE_ORDER, MARK_PAID, CANCEL_ORDER)
"""Every usecase of the orders context."""

ORDERS_PUBLISHES = ("OrderPlaced",)
"""The event types the orders relay publishes: the context's published language."""

ORDERS_INBOX: Mapping[str, Usecase[Any, Any]] = {
    "PaymentCaptured": MARK_PAID,
    "PaymentDeclined": CANCEL_ORDER,
}
"""What the orders consumer calls, by message type."""
