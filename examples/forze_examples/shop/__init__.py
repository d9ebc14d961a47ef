"""A shop in two bounded contexts, orders and payments, that talk only through a broker.

A ``place_order`` command appends ``OrderPlaced`` to the orders' event store; the orders relay
publishes it; the payments consumer calls ``charge``, which captures the payment or declines
it (over ``CHARGE_LIMIT``); the payments relay publishes that; the orders consumer calls
``mark_paid`` or ``cancel_order``. ``run_shop`` runs both contexts on one broker
(``brokers``: in memory, RabbitMQ, Redis Streams, SQS).
"""

from forze_examples.shop.brokers import (
    in_memory_broker,
    rabbitmq_broker,
    redis_broker,
    sqs_broker,
)
from forze_examples.shop.contexts import (
    ORDERS_CONTEXT,
    PAYMENTS_CONTEXT,
    BoundedContext,
    Channel,
    RunningContext,
    ShopSettings,
)
from forze_examples.shop.orders import ORDERS, Order, OrderCancelled, OrderPaid, OrderPlaced
from forze_examples.shop.orders_usecases import (
    CANCEL_ORDER,
    MARK_PAID,
    PLACE_ORDER,
    CancelOrder,
    MarkPaid,
    PlaceOrder,
)
from forze_examples.shop.payments import (
    PAYMENTS,
    Payment,
    PaymentCaptured,
    PaymentDeclined,
    PaymentRequested,
)
from forze_examples.shop.payments_usecases import CHARGE, CHARGE_LIMIT, Charge
from forze_examples.shop.shop import Shop, ShopBroker, run_shop

__all__ = [
    "CANCEL_ORDER",
    "CHARGE",
    "CHARGE_LIMIT",
    "MARK_PAID",
    "ORDERS",
    "ORDERS_CONTEXT",
    "PAYMENTS",
    "PAYMENTS_CONTEXT",
    "PLACE_ORDER",
    "BoundedContext",
    "CancelOrder",
    "Channel",
    "Charge",
    "MarkPaid",
    "Order",
    "OrderCancelled",
    "OrderPaid",
    "OrderPlaced",
    "Payment",
    "PaymentCaptured",
    "PaymentDeclined",
    "PaymentRequested",
    "PlaceOrder",
    "RunningContext",
    "Shop",
    "ShopBroker",
    "ShopSettings",
    "in_memory_broker",
    "rabbitmq_broker",
    "redis_broker",
    "run_shop",
    "sqs_broker",
]
