"""The orders part: the ``Order`` aggregate, its events and its spec."""

from __future__ import annotations

from typing import Literal

from forze import Aggregate, AggregateSpec, DomainError, DomainEvent, EventType

__all__ = [
    "ORDERS",
    "Order",
    "OrderCancelled",
    "OrderEvent",
    "OrderPicked",
    "OrderPlaced",
    "OrderShipped",
    "OrderStatus",
]

OrderStatus = Literal["new", "placed", "picked", "shipped", "cancelled"]
"""Where an order is: ``new`` (not placed yet), then placed, picked and shipped, or cancelled."""


class OrderPlaced(DomainEvent):
    """A customer ordered ``quantity`` of ``sku`` for ``amount`` cents, paid with ``card``
    (starts the fulfilment saga)."""

    order_id: str
    sku: str
    quantity: int
    amount: int
    card: str


class OrderPicked(DomainEvent):
    """The warehouse confirmed that the order's goods are picked (the saga ships it then)."""

    order_id: str


class OrderShipped(DomainEvent):
    """The order left the warehouse."""

    order_id: str


class OrderCancelled(DomainEvent):
    """The order will not be fulfilled, for ``reason``."""

    order_id: str
    reason: str


OrderEvent = OrderPlaced | OrderPicked | OrderShipped | OrderCancelled


class Order(Aggregate[OrderEvent]):
    """An order: placed once, then picked and shipped, or cancelled.

    Confirming the picking, shipping and cancelling are no-ops when done already, so a step
    tried again changes nothing; a cancelled order cannot be picked, a shipped one cannot be
    cancelled.
    """

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.status: OrderStatus = "new"
        self.sku = ""
        self.quantity = 0
        self.amount = 0
        self.card = ""
        self.cancel_reason: str | None = None

    def place(self, sku: str, quantity: int, amount: int, card: str) -> None:
        """Place the order (once)."""
        if self.status != "new":
            raise DomainError(f"order {self.id} is placed already")
        if not sku or not card or quantity <= 0 or amount <= 0:
            raise DomainError("an order needs a sku, a card, a positive quantity and amount")
        self.emit(
            OrderPlaced(order_id=self.id, sku=sku, quantity=quantity, amount=amount, card=card)
        )

    def ensure_open(self) -> None:
        """Raise ``DomainError`` unless the order is placed or picked (not shipped, cancelled
        or never placed): the warehouse may confirm the picking before the saga catches up."""
        if self.status not in ("placed", "picked"):
            raise DomainError(f"order {self.id} is {self.status}: it is not open")

    def confirm_picking(self) -> None:
        """Record that the goods are picked (a no-op when they are)."""
        if self.status == "picked":
            return
        self.ensure_open()
        self.emit(OrderPicked(order_id=self.id))

    def ship(self) -> None:
        """Ship the picked order (a no-op when it is shipped)."""
        if self.status == "shipped":
            return
        if self.status != "picked":
            raise DomainError(f"order {self.id} is {self.status}: only a picked order ships")
        self.emit(OrderShipped(order_id=self.id))

    def cancel(self, reason: str) -> None:
        """Cancel the order (a no-op when it is cancelled); a shipped order cannot be."""
        if self.status == "cancelled":
            return
        if self.status in ("new", "shipped"):
            raise DomainError(f"order {self.id} is {self.status}: it cannot be cancelled")
        self.emit(OrderCancelled(order_id=self.id, reason=reason))

    def apply(self, event: OrderEvent) -> None:
        """One branch per event type."""
        match event:
            case OrderPlaced(sku=sku, quantity=quantity, amount=amount, card=card):
                self.status = "placed"
                self.sku, self.quantity, self.amount, self.card = sku, quantity, amount, card
            case OrderPicked():
                self.status = "picked"
            case OrderShipped():
                self.status = "shipped"
            case OrderCancelled(reason=reason):
                self.status, self.cancel_reason = "cancelled", reason


ORDERS: AggregateSpec[Order] = AggregateSpec(
    name="order",
    factory=Order,
    events=(
        EventType("OrderPlaced", OrderPlaced),
        EventType("OrderPicked", OrderPicked),
        EventType("OrderShipped", OrderShipped),
        EventType("OrderCancelled", OrderCancelled),
    ),
)
"""Orders live in streams ``order-<order id>``."""
