"""The payments part: the ``Payment`` aggregate of one order, its events and its spec."""

from __future__ import annotations

from typing import Literal

from forze import Aggregate, AggregateSpec, DomainError, DomainEvent, EventType

__all__ = [
    "DECLINED_CARD",
    "PAYMENTS",
    "Payment",
    "PaymentCharged",
    "PaymentDeclined",
    "PaymentEvent",
    "PaymentRefunded",
    "PaymentStatus",
]

DECLINED_CARD = "declined"
"""The card the (pretend) card processor always declines."""

PaymentStatus = Literal["new", "charged", "refunded"]
"""Where a payment is: ``new`` (nothing charged), charged, then maybe refunded."""


class PaymentDeclined(DomainError):
    """The card processor refused the charge (no retry mends it)."""


class PaymentCharged(DomainEvent):
    """``amount`` cents were taken from the customer's card."""

    amount: int


class PaymentRefunded(DomainEvent):
    """``amount`` cents were given back."""

    amount: int


PaymentEvent = PaymentCharged | PaymentRefunded


class Payment(Aggregate[PaymentEvent]):
    """The payment of one order (its id is the order id): charged once, refunded at most once.

    Charging a payment that was charged (or refunded) and refunding one that is not charged
    are no-ops, so a step tried again moves no money twice.
    """

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.status: PaymentStatus = "new"
        self.amount = 0

    def charge(self, amount: int, card: str) -> None:
        """Take ``amount`` cents from ``card``; ``PaymentDeclined`` for the declined card."""
        if self.status != "new":
            return
        if amount <= 0:
            raise DomainError(f"payment {self.id}: the amount must be positive, not {amount}")
        if card == DECLINED_CARD:
            raise PaymentDeclined(f"payment {self.id}: card {card!r} was declined")
        self.emit(PaymentCharged(amount=amount))

    def refund(self) -> None:
        """Give the charged amount back (a no-op unless the payment is charged)."""
        if self.status != "charged":
            return
        self.emit(PaymentRefunded(amount=self.amount))

    def apply(self, event: PaymentEvent) -> None:
        """One branch per event type."""
        match event:
            case PaymentCharged(amount=amount):
                self.status, self.amount = "charged", amount
            case PaymentRefunded():
                self.status = "refunded"


PAYMENTS: AggregateSpec[Payment] = AggregateSpec(
    name="payment",
    factory=Payment,
    events=(
        EventType("PaymentCharged", PaymentCharged),
        EventType("PaymentRefunded", PaymentRefunded),
    ),
)
"""Payments live in streams ``payment-<order id>``."""
