"""The states of a feed consumer's runner move only as the engine's table allows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forze_projections import ProjectionState
from forze_projections._states import MOVES, States

ALL = list(ProjectionState)


def test_every_state_has_its_moves_listed() -> None:
    assert set(MOVES) == set(ALL)


def test_no_runner_ever_goes_back_to_idle() -> None:
    assert all(ProjectionState.IDLE not in targets for targets in MOVES.values())


def test_only_a_runner_catching_up_or_live_becomes_live() -> None:
    sources = {state for state, targets in MOVES.items() if ProjectionState.LIVE in targets}
    assert sources == {ProjectionState.CATCHING_UP, ProjectionState.LIVE}


def test_a_move_the_table_refuses_raises_and_keeps_the_state() -> None:
    states = States(["orders"])
    states.move("orders", ProjectionState.STANDBY)
    with pytest.raises(RuntimeError, match="no move from 'standby' to 'live'"):
        states.move("orders", ProjectionState.LIVE)
    assert states["orders"] is ProjectionState.STANDBY


@given(st.lists(st.sampled_from(ALL), max_size=30))
def test_a_sequence_of_moves_ends_where_the_last_allowed_move_led(
    wanted: list[ProjectionState],
) -> None:
    states, expected = States(["p"]), ProjectionState.IDLE
    for target in wanted:
        if target in MOVES[expected]:
            states.move("p", target)
            expected = target
        else:
            with pytest.raises(RuntimeError):
                states.move("p", target)
        assert states["p"] is expected
