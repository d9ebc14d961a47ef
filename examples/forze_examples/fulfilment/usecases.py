"""What the shop and the warehouse ask for: place an order, receive stock, confirm picking."""

from __future__ import annotations

from forze import Command, ExecutionContext, Usecase
from forze_examples.fulfilment.orders import ORDERS
from forze_examples.fulfilment.stock import STOCK, Stock

__all__ = [
    "CONFIRM_PICKING",
    "PLACE_ORDER",
    "RECEIVE_STOCK",
    "ConfirmPicking",
    "PlaceOrder",
    "ReceiveStock",
]


class PlaceOrder(Command):
    """Order ``quantity`` of ``sku`` for ``amount`` cents, paid with ``card``."""

    order_id: str
    sku: str
    quantity: int
    amount: int
    card: str


class ReceiveStock(Command):
    """``quantity`` items of ``sku`` arrived at the warehouse."""

    sku: str
    quantity: int


class ConfirmPicking(Command):
    """The warehouse picked the goods of ``order_id``."""

    order_id: str


async def _place_order(ctx: ExecutionContext, command: PlaceOrder) -> None:
    """Create the order; ``ConcurrencyError`` if one with its id exists."""
    async with ctx.aggregates(ORDERS).create(command.order_id) as order:
        order.place(command.sku, command.quantity, command.amount, command.card)


async def _receive_stock(ctx: ExecutionContext, command: ReceiveStock) -> int:
    """Add the items (the sku's stream starts with its first delivery); the items available."""

    def receive(stock: Stock) -> int:
        stock.receive(command.quantity)
        return stock.available

    return await ctx.aggregates(STOCK).execute(command.sku, receive)


async def _confirm_picking(ctx: ExecutionContext, command: ConfirmPicking) -> None:
    """Record the picking (``DomainError`` unless the order is placed, or picked already)."""
    async with ctx.aggregates(ORDERS).edit(command.order_id) as order:
        order.confirm_picking()


PLACE_ORDER = Usecase.command("place_order", _place_order, ORDERS)
RECEIVE_STOCK = Usecase.command("receive_stock", _receive_stock, STOCK)
CONFIRM_PICKING = Usecase.command("confirm_picking", _confirm_picking, ORDERS)
