"""``Backoff``: the waits every retry loop of forze shares."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forze import Backoff, InvalidInputError
from forze_eventstore.adapter_kit import outage_delay


def test_waits_double_from_the_first_up_to_the_longest() -> None:
    backoff = Backoff(0.05, 1.0)
    assert [backoff.delay(n) for n in range(1, 7)] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0]


@given(
    first=st.floats(0, 10),
    extra=st.floats(0, 100),
    jitter=st.floats(0, 1),
    failures=st.integers(-5, 10_000),
)
def test_a_jittered_wait_stays_between_its_cut_and_the_unjittered_wait(
    first: float, extra: float, jitter: float, failures: int
) -> None:
    plain = Backoff(first, first + extra).delay(failures)
    jittered = Backoff(first, first + extra, jitter).delay(failures)
    assert plain * (1 - jitter) - 1e-9 <= jittered <= plain <= first + extra


@given(st.integers(1, 500))
def test_unjittered_waits_never_shrink_as_failures_go_on(failures: int) -> None:
    backoff = Backoff(0.001, 30.0)
    assert backoff.delay(failures) <= backoff.delay(failures + 1)


def test_store_outages_wait_from_50_ms_up_to_5_s() -> None:
    assert (outage_delay(1), outage_delay(2), outage_delay(1_000)) == (0.05, 0.1, 5.0)


@pytest.mark.parametrize(("first", "longest", "jitter"), [(-1, 1, 0), (2, 1, 0), (0, 1, 1.5)])
def test_an_impossible_back_off_is_refused(first: float, longest: float, jitter: float) -> None:
    with pytest.raises(InvalidInputError):
        Backoff(first, longest, jitter)
