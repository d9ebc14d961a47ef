"""The two bounded contexts as data, and one context running: its own event store, runtime,
relay (its outbox) and consumer (its inbox)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from forze import (
    Backoff,
    Consumer,
    ConsumerSettings,
    EventStore,
    Middleware,
    Publisher,
    RecordedEvent,
    Runtime,
    Subscriber,
    Usecase,
    build_runtime,
)
from forze_eventstore import InMemoryEventStore, event_store_module
from forze_examples.shop.orders import ORDERS
from forze_examples.shop.orders_usecases import ORDERS_INBOX, ORDERS_PUBLISHES, ORDERS_USECASES
from forze_examples.shop.payments import PAYMENTS
from forze_examples.shop.payments_usecases import (
    PAYMENTS_INBOX,
    PAYMENTS_PUBLISHES,
    PAYMENTS_USECASES,
)
from forze_projections import InMemoryProjectionBackend, Relay

__all__ = [
    "ORDERS_CONTEXT",
    "PAYMENTS_CONTEXT",
    "BoundedContext",
    "Channel",
    "RunningContext",
    "ShopSettings",
    "running",
]


@dataclass(frozen=True, slots=True)
class BoundedContext:
    """What a context is: the category of its streams, its usecases, the event types it
    publishes and the usecase its consumer calls per message type."""

    name: str
    category: str
    usecases: tuple[Usecase[Any, Any], ...]
    publishes: tuple[str, ...]
    inbox: Mapping[str, Usecase[Any, Any]]


ORDERS_CONTEXT = BoundedContext(
    "orders", ORDERS.name, ORDERS_USECASES, ORDERS_PUBLISHES, ORDERS_INBOX
)
"""Orders: publishes ``OrderPlaced``; consumes ``PaymentCaptured`` and ``PaymentDeclined``."""

PAYMENTS_CONTEXT = BoundedContext(
    "payments", PAYMENTS.name, PAYMENTS_USECASES, PAYMENTS_PUBLISHES, PAYMENTS_INBOX
)
"""Payments: consumes ``OrderPlaced``; publishes ``PaymentCaptured`` and ``PaymentDeclined``."""


@dataclass(frozen=True, slots=True)
class Channel:
    """One way of the conversation: where a context's relay sends its public events
    (``route``: a stream or queue name, or a function of the event such as the relay's default
    ``topic``) and how the other context's consumer reads them (``subscribe()``: a new
    subscriber, which the consumer closes)."""

    route: Callable[[RecordedEvent], str] | str
    subscribe: Callable[[], Subscriber]


@dataclass(frozen=True, slots=True)
class ShopSettings:
    """How quickly the contexts react: the relays' ``lease_seconds``, the consumers'
    ``wait_seconds``, ``max_attempts`` and ``backoff``, and ``middleware`` for every usecase
    of both contexts (logging, or a fault injected by a test)."""

    lease_seconds: float = 2.0
    wait_seconds: float = 0.2
    max_attempts: int = 5
    backoff: Backoff = field(default_factory=lambda: Backoff(0.05, 1.0))
    grace_seconds: float = 5.0
    middleware: Sequence[Middleware] = ()


@dataclass(frozen=True, slots=True)
class RunningContext:
    """A context while it runs: its own event store, runtime and relay."""

    context: BoundedContext
    events: EventStore
    runtime: Runtime
    relay: Relay


@asynccontextmanager
async def running(
    context: BoundedContext,
    publisher: Publisher,
    outbound: Channel,
    inbound: Channel,
    settings: ShopSettings,
) -> AsyncIterator[RunningContext]:
    """Run ``context`` on a new in-memory event store: its relay publishes its public events
    through ``publisher`` along ``outbound``; its consumer reads ``inbound``. Both stop when
    the block ends (the consumer first, then the relay); ``publisher`` is left open."""
    events = InMemoryEventStore()
    runtime = build_runtime(
        event_store_module(events), usecases=context.usecases, middleware=settings.middleware
    )
    relay = Relay(
        events,
        InMemoryProjectionBackend(),
        publisher,
        name=context.name,
        source=f"urn:forze-shop:{context.name}",
        route=outbound.route,
        event_types=context.publishes,
        categories=(context.category,),
        lease_seconds=settings.lease_seconds,
    )
    options = ConsumerSettings(
        max_attempts=settings.max_attempts,
        backoff=settings.backoff,
        wait_seconds=settings.wait_seconds,
        grace_seconds=settings.grace_seconds,
    )
    async with runtime, relay, asyncio.TaskGroup() as group:
        consumer = Consumer(inbound.subscribe(), runtime, context.inbox, options)
        group.create_task(consumer.run(), name=f"{context.name}-consumer")
        try:
            yield RunningContext(context, events, runtime, relay)
        finally:
            consumer.stop()
