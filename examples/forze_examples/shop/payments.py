"""The payments context: the ``Payment`` aggregate, its events and its spec."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from forze import Aggregate, AggregateSpec, DomainError, DomainEvent, EventType

__all__ = [
    "PAYMENTS",
    "Payment",
    "PaymentCaptured",
    "PaymentDeclined",
    "PaymentEvent",
    "PaymentRequested",
]

PaymentStatus = Literal["new", "requested", "captured", "declined"]


class PaymentRequested(DomainEvent):
    """The payment of ``amount`` cents for an order was asked for. Not published."""

    order_id: str
    amount: int


class PaymentCaptured(DomainEvent):
    """The money was taken. Published to the orders context."""

    order_id: str
    amount: int


class PaymentDeclined(DomainEvent):
    """The payment was refused, for ``reason``. Published to the orders context."""

    order_id: str
    amount: int
    reason: str


PaymentEvent = PaymentRequested | PaymentCaptured | PaymentDeclined


class Payment(Aggregate[PaymentEvent]):
    """The payment of one order (its id is the order id): requested, then captured or
    declined. Charging a payment that was requested already is a no-op."""

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.status: PaymentStatus = "new"
        self.amount = 0

    def charge(self, amount: int, limit: int) -> None:
        """Request ``amount`` and capture it, or decline it when it is over ``limit``."""
        if self.status != "new":
            return
        if amount <= 0:
            raise DomainError(f"payment {self.id}: the amount must be positive, not {amount}")
        self.emit(PaymentRequested(order_id=self.id, amount=amount))
        if amount > limit:
            reason = f"amount {amount} is over the limit {limit}"
            self.emit(PaymentDeclined(order_id=self.id, amount=amount, reason=reason))
        else:
            self.emit(PaymentCaptured(order_id=self.id, amount=amount))

    def apply(self, event: PaymentEvent) -> None:
        """One branch per event type."""
        match event:
            case PaymentRequested(amount=amount):
                self.status, self.amount = "requested", amount
            case PaymentCaptured():
                self.status = "captured"
            case PaymentDeclined():
                self.status = "declined"

    def snapshot_state(self) -> Mapping[str, Any]:
        """The whole state, JSON-able."""
        return {"status": self.status, "amount": self.amount}

    def restore_snapshot(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`snapshot_state` saved."""
        self.status, self.amount = state["status"], state["amount"]


PAYMENTS: AggregateSpec[Payment] = AggregateSpec(
    name="payment",
    factory=Payment,
    events=(
        EventType("PaymentRequested", PaymentRequested),
        EventType("PaymentCaptured", PaymentCaptured),
        EventType("PaymentDeclined", PaymentDeclined),
    ),
)
"""Payments live in streams ``payment-<order id>``."""
