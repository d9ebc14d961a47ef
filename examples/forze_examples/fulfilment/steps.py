"""The usecases the fulfilment saga's steps call, each changing one aggregate.

Each is safe to run again: the aggregates ignore a repeated reservation, charge, refund,
release, shipment or cancellation, and a step's events get ids derived from the step, so a
retried step appends nothing twice either way.
"""

from __future__ import annotations

from forze import Command, ExecutionContext, Usecase
from forze_examples.fulfilment.orders import ORDERS
from forze_examples.fulfilment.payments import PAYMENTS
from forze_examples.fulfilment.stock import STOCK

__all__ = [
    "ACCEPT_ORDER",
    "CANCEL_ORDER",
    "CHARGE_PAYMENT",
    "REFUND_PAYMENT",
    "RELEASE_STOCK",
    "RESERVE_STOCK",
    "SHIP_ORDER",
    "STEP_USECASES",
    "CancelOrder",
    "ChargePayment",
    "OrderStep",
    "RefundPayment",
    "ReleaseStock",
    "ReserveStock",
]


class OrderStep(Command):
    """A step about order ``order_id`` alone (accept it, ship it)."""

    order_id: str


class CancelOrder(Command):
    """Cancel ``order_id`` for ``reason``."""

    order_id: str
    reason: str


class ReserveStock(Command):
    """Hold ``quantity`` items of ``sku`` for ``order_id``."""

    order_id: str
    sku: str
    quantity: int


class ReleaseStock(Command):
    """Give back the items of ``sku`` held for ``order_id``."""

    order_id: str
    sku: str


class ChargePayment(Command):
    """Take ``amount`` cents from ``card`` for ``order_id``."""

    order_id: str
    amount: int
    card: str


class RefundPayment(Command):
    """Give back what was charged for ``order_id``."""

    order_id: str


async def _accept_order(ctx: ExecutionContext, step: OrderStep) -> None:
    """Check that the order is open (it appends nothing); ``DomainError`` if it was shipped
    or cancelled, ``StreamNotFound`` if there is no such order."""
    order = await ctx.aggregates(ORDERS).load(step.order_id)
    order.ensure_open()


async def _ship_order(ctx: ExecutionContext, step: OrderStep) -> None:
    """Ship the picked order."""
    await ctx.aggregates(ORDERS).execute(step.order_id, lambda order: order.ship())


async def _cancel_order(ctx: ExecutionContext, step: CancelOrder) -> None:
    """Cancel the order (a no-op if it is cancelled already)."""
    await ctx.aggregates(ORDERS).execute(step.order_id, lambda order: order.cancel(step.reason))


async def _reserve_stock(ctx: ExecutionContext, step: ReserveStock) -> None:
    """Hold the items; ``OutOfStock`` when too few are available."""
    await ctx.aggregates(STOCK).execute(
        step.sku, lambda stock: stock.reserve(step.order_id, step.quantity)
    )


async def _release_stock(ctx: ExecutionContext, step: ReleaseStock) -> None:
    """Release the order's items."""
    await ctx.aggregates(STOCK).execute(step.sku, lambda stock: stock.release(step.order_id))


async def _charge_payment(ctx: ExecutionContext, step: ChargePayment) -> None:
    """Charge the card; ``PaymentDeclined`` for the declined card."""
    await ctx.aggregates(PAYMENTS).execute(
        step.order_id, lambda payment: payment.charge(step.amount, step.card)
    )


async def _refund_payment(ctx: ExecutionContext, step: RefundPayment) -> None:
    """Refund the charge."""
    await ctx.aggregates(PAYMENTS).execute(step.order_id, lambda payment: payment.refund())


ACCEPT_ORDER = Usecase.command("accept_order", _accept_order, ORDERS)
SHIP_ORDER = Usecase.command("ship_order", _ship_order, ORDERS)
CANCEL_ORDER = Usecase.command("cancel_order", _cancel_order, ORDERS)
RESERVE_STOCK = Usecase.command("reserve_stock", _reserve_stock, STOCK)
RELEASE_STOCK = Usecase.command("release_stock", _release_stock, STOCK)
CHARGE_PAYMENT = Usecase.command("charge_payment", _charge_payment, PAYMENTS)
REFUND_PAYMENT = Usecase.command("refund_payment", _refund_payment, PAYMENTS)

STEP_USECASES = (
    ACCEPT_ORDER,
    SHIP_ORDER,
    CANCEL_ORDER,
    RESERVE_STOCK,
    RELEASE_STOCK,
    CHARGE_PAYMENT,
    REFUND_PAYMENT,
)
"""Every usecase the saga's steps call (its ``usecases=``)."""
