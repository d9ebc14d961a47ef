"""How many calls at once a relay makes by default: what its publisher says serves it best."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from forze.contracts import Message
from forze.domain.errors import InvalidInputError
from forze_eventstore import InMemoryEventStore
from forze_mock import InMemoryBroker
from forze_projections import InMemoryProjectionBackend, Relay
from forze_sqs import SqsPublisher, SqsSettings


class _Hinting:
    """A publisher that says how many calls at once serve it best."""

    def __init__(self, parallel_calls: object) -> None:
        self.parallel_calls = parallel_calls

    async def publish(self, messages: Sequence[Message]) -> None:
        """Accept everything."""

    async def close(self) -> None:
        """Nothing to release."""


def _relay(publisher: object, **options: int) -> Relay:
    return Relay(
        InMemoryEventStore(),
        InMemoryProjectionBackend(),
        publisher,  # type: ignore[arg-type]
        name="lanes",
        source="test",
        **options,  # type: ignore[arg-type]
    )


def test_a_publisher_without_a_hint_gets_one_call_per_page() -> None:
    assert _relay(InMemoryBroker().publisher()).lanes == 1


def test_a_publisher_hinting_parallel_calls_gets_that_many_lanes() -> None:
    assert _relay(_Hinting(3)).lanes == 3


def test_the_sqs_publisher_asks_for_eight_calls_at_once() -> None:
    publisher = SqsPublisher(SqsSettings(endpoint_url="http://127.0.0.1:5055"))
    assert _relay(publisher).lanes == 8


@pytest.mark.parametrize("hint", [0, -2, "8", 2.5, None])
def test_a_hint_that_is_not_a_positive_int_is_ignored(hint: object) -> None:
    assert _relay(_Hinting(hint)).lanes == 1


def test_lanes_given_win_over_the_hint() -> None:
    assert _relay(_Hinting(3), lanes=5).lanes == 5


def test_lanes_below_one_are_refused_with_a_typed_error() -> None:
    with pytest.raises(InvalidInputError, match="lanes"):
        _relay(_Hinting(3), lanes=0)
