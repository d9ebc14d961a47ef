"""The trip saga the saga contract suite runs: reserve a hotel, book a flight, wait for payment.

``TripRequested`` (stream ``trip-<id>``) starts instance ``<id>``: it reserves the hotel, books
the flight (each undone by a cancellation) and waits 15 minutes for ``TripPaid``, which
completes it; no payment in time cancels both, newest first. The steps append to the booking
stream ``booking-<id>``, so a test sees every effect, and how often it happened, in the store.
``fail_flight`` makes the flight step fail for good; ``explode`` makes the handler raise;
``pay_within_seconds`` shortens the payment window (for servers whose time cannot skip).
Importable on its own (a Temporal worker's sandbox imports it by name).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import BaseModel

from forze import Aggregate, AggregateSpec, DomainError, DomainEvent, EventType
from forze.execution import ExecutionContext, Usecase
from forze_projections.sagas import Retry, Saga, SagaContext, call, on_timeout, reacts, starts

__all__ = [
    "BOOKINGS",
    "BOOK_FLIGHT",
    "CANCEL_FLIGHT",
    "CANCEL_HOTEL",
    "PAYMENT_WINDOW",
    "RESERVE_HOTEL",
    "TRIPS",
    "TRIP_SAGA",
    "BookingStep",
    "TripPaid",
    "TripRequested",
    "TripState",
]

PAYMENT_WINDOW = timedelta(minutes=15)


class TripRequested(DomainEvent):
    """A trip was asked for (starts the saga)."""

    trip_id: str
    fail_flight: bool = False
    explode: bool = False
    pay_within_seconds: float = PAYMENT_WINDOW.total_seconds()
    linger_after_flight: float = 0.0


class TripPaid(DomainEvent):
    """The trip was paid (completes the saga)."""

    trip_id: str


class HotelReserved(DomainEvent):
    """The hotel step's effect."""


class HotelCancelled(DomainEvent):
    """The hotel step undone."""


class FlightBooked(DomainEvent):
    """The flight step's effect."""


class FlightCancelled(DomainEvent):
    """The flight step undone."""


class _Trip(Aggregate[DomainEvent]):
    def apply(self, event: DomainEvent) -> None:
        """Nothing to keep."""


class _Booking(Aggregate[DomainEvent]):
    def apply(self, event: DomainEvent) -> None:
        """Nothing to keep."""


TRIPS: AggregateSpec[_Trip] = AggregateSpec(
    name="trip",
    factory=_Trip,
    events=(EventType("TripRequested", TripRequested), EventType("TripPaid", TripPaid)),
)
BOOKINGS: AggregateSpec[_Booking] = AggregateSpec(
    name="booking",
    factory=_Booking,
    events=(
        EventType("HotelReserved", HotelReserved),
        EventType("HotelCancelled", HotelCancelled),
        EventType("FlightBooked", FlightBooked),
        EventType("FlightCancelled", FlightCancelled),
    ),
)


class BookingStep(BaseModel):
    """A step's payload: which trip, whether to fail for good, and how long to linger after
    its append (a process killed meanwhile leaves the step done but not reported)."""

    trip_id: str
    fail: bool = False
    linger: float = 0.0


STEP_RETRY = Retry(
    attempts=10,
    first_delay=timedelta(milliseconds=100),
    max_delay=timedelta(seconds=1),
    attempt_timeout=timedelta(seconds=3),
)
"""Quick retries, and a step of a killed worker tried again after 3 s."""


def _appending(event: type[DomainEvent]) -> Usecase[BookingStep, None]:
    async def handle(ctx: ExecutionContext, step: BookingStep) -> None:
        if step.fail:
            raise DomainError(f"no {event.__name__} for trip {step.trip_id}")
        bookings = ctx.aggregates(BOOKINGS)
        retried = step.linger > 0 and any(
            isinstance(done, event) for done in await bookings.history(step.trip_id)
        )
        await bookings.append(step.trip_id, [event()])
        if not retried:  # a retry (its append a no-op) goes on at once
            await asyncio.sleep(step.linger)

    return Usecase.command(event.__name__, handle, BOOKINGS)


RESERVE_HOTEL = _appending(HotelReserved)
CANCEL_HOTEL = _appending(HotelCancelled)
BOOK_FLIGHT = _appending(FlightBooked)
CANCEL_FLIGHT = _appending(FlightCancelled)


class TripState(BaseModel):
    """What an instance keeps."""

    trip_id: str = ""
    paid: bool = False
    handled: int = 0


def _requested(saga: SagaContext[TripState], event: TripRequested) -> None:
    if event.explode:
        raise RuntimeError("the handler exploded")
    saga.state.trip_id = event.trip_id
    saga.state.handled += 1
    trip = BookingStep(trip_id=event.trip_id)
    flight = BookingStep(
        trip_id=event.trip_id, fail=event.fail_flight, linger=event.linger_after_flight
    )
    retry = STEP_RETRY
    saga.run("hotel", call(RESERVE_HOTEL, trip), compensate=call(CANCEL_HOTEL, trip), retry=retry)
    saga.run("flight", call(BOOK_FLIGHT, flight), compensate=call(CANCEL_FLIGHT, trip), retry=retry)
    saga.schedule("payment", timedelta(seconds=event.pay_within_seconds))


def _paid(saga: SagaContext[TripState], event: TripPaid) -> None:
    saga.state.paid = True
    saga.state.handled += 1
    saga.cancel("payment")
    saga.complete()


def _payment_late(saga: SagaContext[TripState]) -> None:
    saga.fail("no payment in time")


TRIP_SAGA: Saga[TripState] = Saga.typed(
    "trip",
    state=TripState,
    specs=(TRIPS,),
    handlers=(
        starts(TripRequested, lambda e: e.trip_id, _requested),
        reacts(TripPaid, lambda e: e.trip_id, _paid),
    ),
    usecases=(RESERVE_HOTEL, CANCEL_HOTEL, BOOK_FLIGHT, CANCEL_FLIGHT),
    timeouts=(on_timeout("payment", _payment_late),),
)
