"""The fulfilment saga: reserve the stock, charge the card, wait for picking, ship.

``OrderPlaced`` starts instance ``<order id>``. It runs, in order:

1. ``accept``: check the order is still open (undone by cancelling the order);
2. ``reserve``: hold the items (undone by releasing them);
3. ``charge``: charge the card (undone by a refund);

then waits up to :data:`PICKING_WINDOW` for the warehouse's ``OrderPicked``, which ships the
order (step ``ship``) and completes the instance.

When a step fails for good (too little stock, a declined card: errors no retry mends), the
completed steps are undone newest first: a declined card releases the items, then cancels the
order ("fulfilment failed"); the instance ends ``compensated``. When the picking window passes,
the instance cancels the order first ("not picked within 30 minutes", so a late picking is
refused), then fails: the refund, the release and the cancellation (a no-op by then) undo it.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel

from forze_examples.fulfilment.orders import ORDERS, OrderPicked, OrderPlaced
from forze_examples.fulfilment.steps import (
    ACCEPT_ORDER,
    CANCEL_ORDER,
    CHARGE_PAYMENT,
    REFUND_PAYMENT,
    RELEASE_STOCK,
    RESERVE_STOCK,
    SHIP_ORDER,
    STEP_USECASES,
    CancelOrder,
    ChargePayment,
    OrderStep,
    RefundPayment,
    ReleaseStock,
    ReserveStock,
)
from forze_projections.sagas import Retry, Saga, SagaContext, call, on_timeout, reacts, starts

__all__ = [
    "FAILED_REASON",
    "FULFILMENT",
    "LATE_REASON",
    "PICKING_TIMER",
    "PICKING_WINDOW",
    "STEP_RETRY",
    "FulfilmentState",
]

PICKING_WINDOW = timedelta(minutes=30)
"""How long the warehouse has to pick an order once it is paid."""
PICKING_TIMER = "picking"
"""The timer that waits for the picking."""
LATE_REASON = "not picked within 30 minutes"
"""Why an order that was not picked in time is cancelled."""
FAILED_REASON = "fulfilment failed"
"""Why an order is cancelled when a step failed for good (the instance's error says which)."""

STEP_RETRY = Retry(
    attempts=5,
    first_delay=timedelta(milliseconds=200),
    max_delay=timedelta(seconds=5),
    attempt_timeout=timedelta(seconds=30),
)
"""A step is tried five times (a conflict, an outage); a domain rule ends it at once."""


class FulfilmentState(BaseModel):
    """What an instance keeps: the order it fulfils and how far it got."""

    order_id: str = ""
    sku: str = ""
    quantity: int = 0
    amount: int = 0
    picked: bool = False
    late: bool = False


def _placed(saga: SagaContext[FulfilmentState], event: OrderPlaced) -> None:
    state = saga.state
    state.order_id, state.sku = event.order_id, event.sku
    state.quantity, state.amount = event.quantity, event.amount
    order = event.order_id
    saga.run(
        "accept",
        call(ACCEPT_ORDER, OrderStep(order_id=order)),
        compensate=call(CANCEL_ORDER, CancelOrder(order_id=order, reason=FAILED_REASON)),
        retry=STEP_RETRY,
    )
    saga.run(
        "reserve",
        call(RESERVE_STOCK, ReserveStock(order_id=order, sku=event.sku, quantity=event.quantity)),
        compensate=call(RELEASE_STOCK, ReleaseStock(order_id=order, sku=event.sku)),
        retry=STEP_RETRY,
    )
    saga.run(
        "charge",
        call(CHARGE_PAYMENT, ChargePayment(order_id=order, amount=event.amount, card=event.card)),
        compensate=call(REFUND_PAYMENT, RefundPayment(order_id=order)),
        retry=STEP_RETRY,
    )
    saga.schedule(PICKING_TIMER, PICKING_WINDOW)


def _picked(saga: SagaContext[FulfilmentState], event: OrderPicked) -> None:
    saga.state.picked = True
    saga.cancel(PICKING_TIMER)
    saga.run("ship", call(SHIP_ORDER, OrderStep(order_id=event.order_id)), retry=STEP_RETRY)
    saga.complete()


def _not_picked(saga: SagaContext[FulfilmentState]) -> None:
    saga.state.late = True
    cancel = CancelOrder(order_id=saga.key, reason=LATE_REASON)
    saga.run("cancel", call(CANCEL_ORDER, cancel), retry=STEP_RETRY)
    saga.fail(LATE_REASON)


FULFILMENT: Saga[FulfilmentState] = Saga.typed(
    "fulfilment",
    state=FulfilmentState,
    specs=(ORDERS,),
    handlers=(
        starts(OrderPlaced, lambda event: event.order_id, _placed),
        reacts(OrderPicked, lambda event: event.order_id, _picked),
    ),
    usecases=STEP_USECASES,
    timeouts=(on_timeout(PICKING_TIMER, _not_picked),),
)
"""The fulfilment saga (see the module); instance keys are order ids."""
