"""The payments context's usecase: ``charge``, called by its consumer on ``OrderPlaced``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ConfigDict

from forze import Command, ExecutionContext, Usecase
from forze_examples.shop.payments import PAYMENTS

__all__ = [
    "CHARGE",
    "CHARGE_LIMIT",
    "PAYMENTS_INBOX",
    "PAYMENTS_PUBLISHES",
    "PAYMENTS_USECASES",
    "Charge",
]

CHARGE_LIMIT = 50_000
"""Payments over this many cents are declined."""


class Charge(Command):
    """Charge ``amount`` cents for ``order_id`` (read from an ``OrderPlaced`` message).

    A tolerant reader: the fields of the message it does not need (the customer) are ignored.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    order_id: str
    amount: int


async def _charge(ctx: ExecutionContext, command: Charge) -> None:
    """Create the order's payment, requested and then captured or declined, in one append.

    Called again for the same message (a redelivery), it builds the same events with the
    same ids (derived from the message id): the event store recognises its earlier append and
    stores nothing twice. The durable idempotent append is the inbox.
    """
    async with ctx.aggregates(PAYMENTS).create(command.order_id) as payment:
        payment.charge(command.amount, CHARGE_LIMIT)


CHARGE = Usecase.command("charge", _charge, PAYMENTS)

PAYMENTS_USECASES = (CHARGE,)
"""Every usecase of the payments context."""

PAYMENTS_PUBLISHES = ("PaymentCaptured", "PaymentDeclined")
"""The event types the payments relay publishes (``PaymentRequested`` stays inside)."""

PAYMENTS_INBOX: Mapping[str, Usecase[Any, Any]] = {"OrderPlaced": CHARGE}
"""What the payments consumer calls, by message type."""
