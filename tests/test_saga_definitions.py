"""Saga definitions: wiring checks, and scenarios (given events and time, then steps)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from forze.domain.errors import InvalidInputError, WiringError
from forze_projections.sagas import Saga, SagaContext, call, on_timeout, reacts, scenario, starts
from forze_projections.testing.saga_samples import (
    BOOK_FLIGHT,
    BOOKINGS,
    PAYMENT_WINDOW,
    RESERVE_HOTEL,
    TRIP_SAGA,
    TRIPS,
    BookingStep,
    TripPaid,
    TripRequested,
    TripState,
)


def _nothing(saga: SagaContext[TripState], event: TripRequested) -> None:
    """Decides nothing."""


async def test_a_paid_trip_runs_both_steps_and_completes() -> None:
    outcome = await (
        scenario(TRIP_SAGA, "t1").given(TripRequested(trip_id="t1"), TripPaid(trip_id="t1")).run()
    )
    assert outcome.status == "completed"
    assert outcome.steps == ["hotel", "flight"]
    assert outcome.calls == [
        ("HotelReserved", {"trip_id": "t1", "fail": False, "linger": 0.0}),
        ("FlightBooked", {"trip_id": "t1", "fail": False, "linger": 0.0}),
    ]
    assert outcome.state is not None
    assert outcome.state.paid
    assert outcome.timers == {}


async def test_an_unpaid_trip_is_undone_newest_first_when_the_window_passes() -> None:
    waiting = scenario(TRIP_SAGA, "t1").given(TripRequested(trip_id="t1"))
    early = await waiting.elapsed(PAYMENT_WINDOW - timedelta(seconds=1)).run()
    assert early.status == "running"
    late = await waiting.elapsed(PAYMENT_WINDOW).run()
    assert late.status == "compensated"
    assert late.compensated == ["flight", "hotel"]
    assert [usecase for usecase, _ in late.calls[2:]] == ["FlightCancelled", "HotelCancelled"]


async def test_payment_after_the_window_changes_nothing() -> None:
    outcome = await (
        scenario(TRIP_SAGA, "t1")
        .given(TripRequested(trip_id="t1"))
        .elapsed(PAYMENT_WINDOW * 2)
        .given(TripPaid(trip_id="t1"))
        .run()
    )
    assert outcome.status == "compensated"
    assert outcome.state is not None
    assert not outcome.state.paid


async def test_a_failing_step_undoes_only_the_steps_before_it() -> None:
    outcome = await scenario(TRIP_SAGA).given(TripRequested(trip_id="1")).failing("flight").run()
    assert outcome.status == "compensated"
    assert outcome.steps == ["hotel", "flight"]
    assert outcome.compensated == ["hotel"]
    assert outcome.error is not None
    assert "flight" in outcome.error


async def test_the_same_event_given_twice_is_handled_once() -> None:
    requested = TripRequested(trip_id="t1")
    outcome = await scenario(TRIP_SAGA, "t1").given(requested, requested).run()
    assert outcome.steps == ["hotel", "flight"]
    assert outcome.state is not None
    assert outcome.state.handled == 1


async def test_events_before_the_starting_one_are_ignored() -> None:
    outcome = await scenario(TRIP_SAGA, "t1").given(TripPaid(trip_id="t1")).run()
    assert (outcome.status, outcome.steps) == (None, [])


async def test_a_handler_that_raises_fails_the_instance_with_its_error() -> None:
    outcome = await scenario(TRIP_SAGA).given(TripRequested(trip_id="1", explode=True)).run()
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert "exploded" in outcome.error


def test_a_saga_without_a_starting_event_is_refused() -> None:
    with pytest.raises(WiringError, match="no starts"):
        Saga.typed(
            "trip",
            state=TripState,
            specs=(TRIPS,),
            handlers=(reacts(TripRequested, lambda e: e.trip_id, _nothing),),
            usecases=(),
        )


def test_an_event_class_no_spec_declares_is_refused() -> None:
    with pytest.raises(WiringError, match="none of its specs"):
        Saga.typed(
            "trip",
            state=TripState,
            specs=(BOOKINGS,),
            handlers=(starts(TripRequested, lambda e: e.trip_id, _nothing),),
            usecases=(),
        )


def test_a_saga_name_that_cannot_be_part_of_a_workflow_id_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="saga name"):
        Saga.typed(
            "trip saga/1",
            state=TripState,
            specs=(TRIPS,),
            handlers=(starts(TripRequested, lambda e: e.trip_id, _nothing),),
            usecases=(),
        )


async def test_a_step_calling_an_undeclared_usecase_fails_the_instance() -> None:
    def requested(saga: SagaContext[TripState], event: TripRequested) -> None:
        saga.run("flight", call(BOOK_FLIGHT, BookingStep(trip_id=event.trip_id)))

    sloppy = Saga.typed(
        "sloppy",
        state=TripState,
        specs=(TRIPS,),
        handlers=(starts(TripRequested, lambda e: e.trip_id, requested),),
        usecases=(RESERVE_HOTEL,),
    )
    outcome = await scenario(sloppy).given(TripRequested(trip_id="1")).run()
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert "does not declare" in outcome.error


async def test_a_timer_without_a_handler_cannot_be_set() -> None:
    def requested(saga: SagaContext[TripState], event: TripRequested) -> None:
        saga.schedule("reminder", timedelta(hours=1))

    forgetful = Saga.typed(
        "forgetful",
        state=TripState,
        specs=(TRIPS,),
        handlers=(starts(TripRequested, lambda e: e.trip_id, requested),),
        usecases=(),
        timeouts=(on_timeout("payment", lambda saga: saga.complete()),),
    )
    outcome = await scenario(forgetful).given(TripRequested(trip_id="1")).run()
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert "reminder" in outcome.error
