"""Typed projections: handlers per event class, given decoded and upcast events; wiring
mistakes (a class or type name no spec declares) refused when the projection is built."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forze import AggregateSpec, EventType, ReadModelStores, RecordedEvent, WiringError
from forze_eventstore import InMemoryEventStore
from forze_examples.bank import (
    ACCOUNTS,
    BALANCES_PROJECTION,
    AccountOpened,
    MoneyDeposited,
)
from forze_projections import InMemoryProjectionBackend, Projection, Projector, on
from forze_projections.testing import (
    SCORES,
    TALLIES,
    Scored,
    append_scores,
    documents,
    score_fold,
    scores,
)
from forze_projections.testing.projector_typed import Scoreboard


async def _opened(event: AccountOpened, envelope: RecordedEvent, stores: ReadModelStores) -> None:
    """A handler that is never run: the projections below are refused or only inspected."""


async def _account(
    event: AccountOpened | MoneyDeposited, envelope: RecordedEvent, stores: ReadModelStores
) -> None:
    """A handler of two classes that is never run."""


async def _scored(event: Scored, envelope: RecordedEvent, stores: ReadModelStores) -> None:
    """A ``Scored`` handler that is never run."""


async def _raw(event: RecordedEvent, stores: ReadModelStores) -> None:
    """A raw handler that is never run."""


def test_a_handler_for_a_class_no_spec_declares_is_refused_naming_it_and_the_declared_ones() -> (
    None
):
    with pytest.raises(WiringError) as caught:
        Projection.typed("p", 1, specs=(SCORES,), handlers=(on(AccountOpened, _opened),))

    message = str(caught.value)
    assert "projection 'p' handles AccountOpened" in message
    assert "declared: Scored" in message


def test_a_raw_handler_for_a_type_name_no_spec_declares_is_refused_as_a_typo() -> None:
    with pytest.raises(WiringError) as caught:
        Projection("p", 1, {"AcountOpened": _raw}, specs=(ACCOUNTS,))

    message = str(caught.value)
    assert "'AcountOpened'" in message
    assert "AccountOpened, MoneyDeposited" in message


def test_a_typed_projection_with_a_raw_handler_of_an_undeclared_type_is_refused() -> None:
    raw = {**BALANCES_PROJECTION.handlers, "MoneyDepositted": _raw}

    with pytest.raises(WiringError, match="'MoneyDepositted'"):
        dataclasses.replace(BALANCES_PROJECTION, handlers=raw)


def test_a_class_handled_twice_is_refused() -> None:
    with pytest.raises(WiringError, match="handles AccountOpened twice"):
        Projection.typed(
            "p",
            1,
            specs=(ACCOUNTS,),
            handlers=(on(AccountOpened, _opened), on(AccountOpened, _opened)),
        )


def test_two_different_specs_under_one_name_are_refused() -> None:
    other = AggregateSpec("score", Scoreboard, (EventType("Scored", Scored),))

    with pytest.raises(WiringError, match="two different aggregate specs named 'score'"):
        Projection.typed("p", 1, specs=(SCORES, other), handlers=(on(Scored, _scored),))


def test_one_spec_given_twice_is_one_spec() -> None:
    projection = Projection.typed(
        "p", 1, specs=(ACCOUNTS, ACCOUNTS), handlers=(on(AccountOpened, _opened),)
    )

    assert projection.specs == (ACCOUNTS,)
    assert projection.event_types == ("AccountOpened",)


def test_a_typed_projection_reads_only_the_type_names_of_its_handled_classes() -> None:
    projection = Projection.typed(
        "p",
        1,
        specs=(ACCOUNTS,),
        handlers=(on(AccountOpened, _account), on(MoneyDeposited, _account)),
    )

    assert projection.event_types == ("AccountOpened", "MoneyDeposited")


_POINTS = st.one_of(
    st.integers(-(2**40), 2**40),  # stored at schema version 2
    st.integers(-(2**40), 2**40).map(str),  # stored at version 1, as text
)


@settings(max_examples=60, deadline=None)
@given(
    items=st.lists(st.tuples(st.sampled_from(["score-1", "score-2", "score-3"]), _POINTS)),
    batch_size=st.integers(1, 5),
)
def test_any_mix_of_old_and_new_schema_events_projects_like_a_fold_of_their_values(
    items: list[tuple[str, int | str]], batch_size: int
) -> None:
    async def scenario() -> None:
        events, backend = InMemoryEventStore(), InMemoryProjectionBackend()
        feed = await append_scores(events, *items)
        seen: list[tuple[Scored, RecordedEvent]] = []
        projector = Projector(events, backend, [scores(seen=seen)], batch_size=batch_size)
        await projector.catch_up()
        assert [event.points for event, _ in seen] == [int(points) for _, points in items]
        assert [envelope for _, envelope in seen] == feed
        assert await documents(backend.serving(), TALLIES) == score_fold(feed)

    asyncio.run(scenario())
