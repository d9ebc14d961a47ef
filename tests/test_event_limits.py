"""EventLimits: its values are checked, and the depth it measures is the data's real depth."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forze import InvalidInputError
from forze_eventstore import EventLimits
from forze_eventstore.adapter_kit import nesting_depth

_json = st.recursive(
    st.integers(-9, 9) | st.text("[{x", max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text("ab"), inner, max_size=3),
    max_leaves=20,
)


def _reference_depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_reference_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_reference_depth, value), default=0)
    return 0


@pytest.mark.parametrize(
    "field", ["max_event_bytes", "max_stream_id_length", "max_event_type_length", "max_depth"]
)
@pytest.mark.parametrize("value", [0, -1, True, 1.5, "10", None])
def test_a_limit_that_is_not_a_positive_int_is_refused_naming_it(field: str, value: Any) -> None:
    with pytest.raises(InvalidInputError, match=f"EventLimits.{field}"):
        EventLimits(**{field: value})


@pytest.mark.parametrize(
    "field",
    ["max_event_bytes", "max_stream_id_length", "max_event_type_length", "max_depth", "page_bytes"],
)
def test_a_limit_beyond_what_every_store_can_read_is_refused_naming_it(field: str) -> None:
    assert getattr(EventLimits(**{field: 2**63 - 1}), field) == 2**63 - 1
    with pytest.raises(InvalidInputError, match=f"EventLimits.{field} must be at most"):
        EventLimits(**{field: 2**63})


@given(value=_json)
def test_the_measured_depth_is_the_deepest_nesting_of_mappings_and_lists(value: Any) -> None:
    assert nesting_depth(value, 1_000) == _reference_depth(value)
    assert nesting_depth(value, 2) == min(_reference_depth(value), 2)


def test_a_depth_far_past_the_recursion_limit_is_measured_without_recursing() -> None:
    value: Any = 1
    for _ in range(50_000):
        value = [value]
    assert nesting_depth(value, 100_000) == 50_000
