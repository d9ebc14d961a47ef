"""Order fulfilment: a saga across orders, the warehouse's stock and payments.

An order placed (``PLACE_ORDER``) starts the ``FULFILMENT`` saga, which reserves the stock,
charges the card and waits for the warehouse to confirm the picking (``CONFIRM_PICKING``)
before shipping; a declined card, too little stock or a picking that does not come within
30 minutes undoes what was done (see :mod:`forze_examples.fulfilment.saga`).

An application wires ``SPECS`` into its runtime, feeds ``FULFILMENT`` with a
``SagaDispatcher`` and runs it on a saga runner (in-process for tests, Temporal otherwise).
"""

from forze_examples.fulfilment.orders import (
    ORDERS,
    Order,
    OrderCancelled,
    OrderEvent,
    OrderPicked,
    OrderPlaced,
    OrderShipped,
    OrderStatus,
)
from forze_examples.fulfilment.payments import (
    DECLINED_CARD,
    PAYMENTS,
    Payment,
    PaymentCharged,
    PaymentDeclined,
    PaymentEvent,
    PaymentRefunded,
    PaymentStatus,
)
from forze_examples.fulfilment.saga import (
    FAILED_REASON,
    FULFILMENT,
    LATE_REASON,
    PICKING_TIMER,
    PICKING_WINDOW,
    STEP_RETRY,
    FulfilmentState,
)
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
from forze_examples.fulfilment.stock import (
    STOCK,
    OutOfStock,
    Stock,
    StockEvent,
    StockReceived,
    StockReleased,
    StockReserved,
)
from forze_examples.fulfilment.usecases import (
    CONFIRM_PICKING,
    PLACE_ORDER,
    RECEIVE_STOCK,
    ConfirmPicking,
    PlaceOrder,
    ReceiveStock,
)

SPECS = (ORDERS, STOCK, PAYMENTS)
"""The aggregate specs of the three parts."""

__all__ = [
    "ACCEPT_ORDER",
    "CANCEL_ORDER",
    "CHARGE_PAYMENT",
    "CONFIRM_PICKING",
    "DECLINED_CARD",
    "FAILED_REASON",
    "FULFILMENT",
    "LATE_REASON",
    "ORDERS",
    "PAYMENTS",
    "PICKING_TIMER",
    "PICKING_WINDOW",
    "PLACE_ORDER",
    "RECEIVE_STOCK",
    "REFUND_PAYMENT",
    "RELEASE_STOCK",
    "RESERVE_STOCK",
    "SHIP_ORDER",
    "SPECS",
    "STEP_RETRY",
    "STEP_USECASES",
    "STOCK",
    "CancelOrder",
    "ChargePayment",
    "ConfirmPicking",
    "FulfilmentState",
    "Order",
    "OrderCancelled",
    "OrderEvent",
    "OrderPicked",
    "OrderPlaced",
    "OrderShipped",
    "OrderStatus",
    "OrderStep",
    "OutOfStock",
    "Payment",
    "PaymentCharged",
    "PaymentDeclined",
    "PaymentEvent",
    "PaymentRefunded",
    "PaymentStatus",
    "PlaceOrder",
    "ReceiveStock",
    "RefundPayment",
    "ReleaseStock",
    "ReserveStock",
    "Stock",
    "StockEvent",
    "StockReceived",
    "StockReleased",
    "StockReserved",
]
