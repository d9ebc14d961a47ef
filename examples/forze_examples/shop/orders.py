"""The orders context: the ``Order`` aggregate, its events and its spec."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from forze import Aggregate, AggregateSpec, DomainError, DomainEvent, EventType

__all__ = ["ORDERS", "Order", "OrderCancelled", "OrderEvent", "OrderPaid", "OrderPlaced"]

OrderStatus = Literal["new", "placed", "paid", "cancelled"]


class OrderPlaced(DomainEvent):
    """``customer`` ordered goods for ``amount`` cents. Published to the payments context."""

    order_id: str
    customer: str
    amount: int


class OrderPaid(DomainEvent):
    """The payment of the order was captured."""

    order_id: str
    amount: int


class OrderCancelled(DomainEvent):
    """The order will not be fulfilled (its payment was declined)."""

    order_id: str
    reason: str


OrderEvent = OrderPlaced | OrderPaid | OrderCancelled


class Order(Aggregate[OrderEvent]):
    """An order: ``placed``, then ``paid`` or ``cancelled``, once.

    Paying a paid order or cancelling a cancelled one is a no-op, so a message handled again
    on the newer state emits nothing.
    """

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.status: OrderStatus = "new"
        self.customer = ""
        self.amount = 0

    def place(self, customer: str, amount: int) -> None:
        """Place a new order of a positive amount."""
        if self.status != "new":
            raise DomainError(f"order {self.id} was placed already")
        if not customer or amount <= 0:
            raise DomainError("an order needs a customer and a positive amount")
        self.emit(OrderPlaced(order_id=self.id, customer=customer, amount=amount))

    def mark_paid(self, amount: int) -> None:
        """Record that ``amount`` was captured; it must be the order's amount."""
        if self.status == "paid":
            return
        self._check_placed()
        if amount != self.amount:
            raise DomainError(f"order {self.id}: paid {amount}, expected {self.amount}")
        self.emit(OrderPaid(order_id=self.id, amount=amount))

    def cancel(self, reason: str) -> None:
        """Cancel a placed order."""
        if self.status == "cancelled":
            return
        self._check_placed()
        self.emit(OrderCancelled(order_id=self.id, reason=reason))

    def apply(self, event: OrderEvent) -> None:
        """One branch per event type."""
        match event:
            case OrderPlaced(customer=customer, amount=amount):
                self.status, self.customer, self.amount = "placed", customer, amount
            case OrderPaid():
                self.status = "paid"
            case OrderCancelled():
                self.status = "cancelled"

    def snapshot_state(self) -> Mapping[str, Any]:
        """The whole state, JSON-able."""
        return {"status": self.status, "customer": self.customer, "amount": self.amount}

    def restore_snapshot(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`snapshot_state` saved."""
        self.status, self.customer, self.amount = (
            state["status"],
            state["customer"],
            state["amount"],
        )

    def _check_placed(self) -> None:
        if self.status != "placed":
            raise DomainError(f"order {self.id} is {self.status}, not placed")


ORDERS: AggregateSpec[Order] = AggregateSpec(
    name="order",
    factory=Order,
    events=(
        EventType("OrderPlaced", OrderPlaced),
        EventType("OrderPaid", OrderPaid),
        EventType("OrderCancelled", OrderCancelled),
    ),
)
"""Orders live in streams ``order-<id>``."""
