"""The warehouse part: the ``Stock`` aggregate of one sku, its events and its spec."""

from __future__ import annotations

from forze import Aggregate, AggregateSpec, DomainError, DomainEvent, EventType

__all__ = [
    "STOCK",
    "OutOfStock",
    "Stock",
    "StockEvent",
    "StockReceived",
    "StockReleased",
    "StockReserved",
]


class OutOfStock(DomainError):
    """A reservation asks for more than is available."""


class StockReceived(DomainEvent):
    """``quantity`` items arrived at the warehouse."""

    quantity: int


class StockReserved(DomainEvent):
    """``quantity`` items are held for ``order_id``."""

    order_id: str
    quantity: int


class StockReleased(DomainEvent):
    """The ``quantity`` items held for ``order_id`` are available again."""

    order_id: str
    quantity: int


StockEvent = StockReceived | StockReserved | StockReleased


class Stock(Aggregate[StockEvent]):
    """The stock of one sku (its id): ``available`` items, and the items held per order.

    Reservations and releases are idempotent by order id: reserving for an order that
    reserved before, or releasing an order that holds nothing, is a no-op. The items of a
    shipped order stay reserved (they left the warehouse).
    """

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.available = 0
        self.held: dict[str, int] = {}
        """Items held, by order id."""
        self.released: set[str] = set()
        """The orders whose items were released."""

    def receive(self, quantity: int) -> None:
        """Add ``quantity`` items (a positive number)."""
        if quantity <= 0:
            raise DomainError(f"stock {self.id}: received quantities must be positive")
        self.emit(StockReceived(quantity=quantity))

    def reserve(self, order_id: str, quantity: int) -> None:
        """Hold ``quantity`` items for ``order_id``; ``OutOfStock`` when too few are left."""
        if order_id in self.held or order_id in self.released:
            return
        if quantity <= 0:
            raise DomainError(f"stock {self.id}: reserved quantities must be positive")
        if quantity > self.available:
            raise OutOfStock(
                f"stock {self.id}: {quantity} asked for order {order_id}, {self.available} left"
            )
        self.emit(StockReserved(order_id=order_id, quantity=quantity))

    def release(self, order_id: str) -> None:
        """Make the items held for ``order_id`` available again (a no-op if none are)."""
        quantity = self.held.get(order_id)
        if quantity is None:
            return
        self.emit(StockReleased(order_id=order_id, quantity=quantity))

    def apply(self, event: StockEvent) -> None:
        """One branch per event type."""
        match event:
            case StockReceived(quantity=quantity):
                self.available += quantity
            case StockReserved(order_id=order_id, quantity=quantity):
                self.available -= quantity
                self.held[order_id] = quantity
            case StockReleased(order_id=order_id, quantity=quantity):
                self.available += quantity
                del self.held[order_id]
                self.released.add(order_id)


STOCK: AggregateSpec[Stock] = AggregateSpec(
    name="stock",
    factory=Stock,
    events=(
        EventType("StockReceived", StockReceived),
        EventType("StockReserved", StockReserved),
        EventType("StockReleased", StockReleased),
    ),
)
"""Stock lives in streams ``stock-<sku>``."""
