"""Contract: appends are atomic, optimistically concurrent and idempotent."""

from __future__ import annotations

import asyncio
import math
from typing import Any
from uuid import uuid4

import pytest

from forze.contracts import EventStore, ExpectedVersion, NewEvent
from forze.domain.errors import ConcurrencyError, DuplicateEventIdError, InvalidInputError
from forze_eventstore.testing.base import StoreFactory
from forze_eventstore.testing.helpers import new_event, new_events

__all__ = ["AppendContract"]


def _containing_itself() -> dict[str, Any]:
    """A mapping that contains itself (JSON cannot express it)."""
    looped: dict[str, Any] = {}
    looped["self"] = looped
    return looped


class AppendContract(StoreFactory):
    """Atomic, optimistic-concurrency and idempotency guarantees of ``append``."""

    async def test_an_append_stores_every_event_with_consecutive_versions(
        self, store: EventStore
    ) -> None:
        result = await store.append("order-1", new_events(3))
        stored = await store.read_stream("order-1")
        assert (result.stream_id, result.version, result.position) == (
            "order-1",
            3,
            stored[-1].position,
        )
        assert await store.head_position() == result.position
        assert [e.version for e in stored] == [1, 2, 3]
        assert [e.data["n"] for e in stored] == [0, 1, 2]
        assert all(e.stream_id == "order-1" and e.category == "order" for e in stored)

    async def test_an_append_keeps_ids_types_data_and_metadata(self, store: EventStore) -> None:
        event = NewEvent(
            "Placed",
            {"items": [{"sku": "ä-1", "qty": 2}], "total": 12.5, "gift": None, "rush": True},
            {"correlation_id": "c-1", "actor": "ann"},
        )
        await store.append("order-1", [event])
        (stored,) = await store.read_stream("order-1")
        assert stored.event_id == event.event_id
        assert stored.event_type == "Placed"
        assert stored.data == event.data
        assert stored.metadata == event.metadata
        assert stored.recorded_at.tzinfo is not None

    async def test_any_appends_whatever_the_stream_version(self, store: EventStore) -> None:
        await store.append("s-1", new_events(2), ExpectedVersion.ANY)
        result = await store.append("s-1", new_events(1), ExpectedVersion.ANY)
        assert result.version == 3

    async def test_no_stream_succeeds_only_when_the_stream_is_new(self, store: EventStore) -> None:
        await store.append("s-1", new_events(1), ExpectedVersion.NO_STREAM)
        with pytest.raises(ConcurrencyError) as caught:
            await store.append("s-1", new_events(1), ExpectedVersion.NO_STREAM)
        assert (caught.value.expected, caught.value.actual) == ("NO_STREAM", 1)

    async def test_expected_version_zero_means_the_stream_must_not_exist(
        self, store: EventStore
    ) -> None:
        await store.append("s-1", new_events(1), 0)
        with pytest.raises(ConcurrencyError):
            await store.append("s-1", new_events(1), 0)

    async def test_stream_exists_fails_for_a_missing_stream(self, store: EventStore) -> None:
        with pytest.raises(ConcurrencyError) as caught:
            await store.append("s-1", new_events(1), ExpectedVersion.STREAM_EXISTS)
        assert caught.value.actual == 0
        await store.append("s-1", new_events(1))
        result = await store.append("s-1", new_events(1), ExpectedVersion.STREAM_EXISTS)
        assert result.version == 2

    async def test_an_exact_version_must_equal_the_stream_version(self, store: EventStore) -> None:
        await store.append("s-1", new_events(2))
        with pytest.raises(ConcurrencyError) as caught:
            await store.append("s-1", new_events(1), 1)
        assert "expected version 1" in str(caught.value)
        assert (caught.value.stream_id, caught.value.expected, caught.value.actual) == ("s-1", 1, 2)
        assert (await store.append("s-1", new_events(1), 2)).version == 3

    async def test_a_conflicting_append_stores_nothing(self, store: EventStore) -> None:
        await store.append("s-1", new_events(1))
        head = await store.head_position()
        with pytest.raises(ConcurrencyError):
            await store.append("s-1", new_events(5), 7)
        assert await store.stream_version("s-1") == 1
        assert await store.head_position() == head

    async def test_concurrent_appends_at_one_version_let_exactly_one_win(
        self, store: EventStore
    ) -> None:
        await store.append("s-1", new_events(1))
        outcomes = await asyncio.gather(
            *(store.append("s-1", new_events(2), 1) for _ in range(8)), return_exceptions=True
        )
        wins = [o for o in outcomes if not isinstance(o, BaseException)]
        assert len(wins) == 1
        assert all(isinstance(o, ConcurrencyError) for o in outcomes if o not in wins)
        assert await store.stream_version("s-1") == 3

    async def test_reappending_stored_events_returns_the_original_result(
        self, store: EventStore
    ) -> None:
        batch = new_events(3)
        first = await store.append("s-1", batch, ExpectedVersion.NO_STREAM)
        await store.append("s-2", new_events(2))
        for expected in (ExpectedVersion.ANY, ExpectedVersion.NO_STREAM, 0):
            again = await store.append("s-1", batch, expected)
            assert again == first
        assert len(await store.read_all()) == 5
        assert await store.stream_version("s-1") == 3

    async def test_reappending_a_later_batch_returns_its_own_result(
        self, store: EventStore
    ) -> None:
        await store.append("s-1", new_events(2))
        second_batch = new_events(2)
        second = await store.append("s-1", second_batch, 2)
        await store.append("s-1", new_events(1))
        assert await store.append("s-1", second_batch, 2) == second
        assert await store.stream_version("s-1") == 5

    async def test_idempotency_is_not_forgotten_after_many_appends(self, store: EventStore) -> None:
        first_batch = new_events(1)
        first = await store.append("s-0", first_batch)
        for n in range(1, 300):
            await store.append(f"s-{n}", new_events(5))
        assert await store.append("s-0", first_batch) == first
        assert len(await store.read_all()) == 1 + 299 * 5

    async def test_an_event_id_reused_in_another_stream_is_rejected(
        self, store: EventStore
    ) -> None:
        event = new_event()
        await store.append("s-1", [event])
        with pytest.raises(DuplicateEventIdError) as caught:
            await store.append("s-2", [event])
        assert caught.value.stored_stream_id == "s-1"
        assert await store.stream_version("s-2") == 0

    async def test_a_batch_mixing_stored_and_new_ids_is_rejected(self, store: EventStore) -> None:
        event = new_event()
        await store.append("s-1", [event])
        with pytest.raises(DuplicateEventIdError):
            await store.append("s-1", [event, new_event()])
        assert await store.stream_version("s-1") == 1

    async def test_stored_ids_in_another_order_are_rejected(self, store: EventStore) -> None:
        batch = new_events(2)
        await store.append("s-1", batch)
        with pytest.raises(DuplicateEventIdError):
            await store.append("s-1", batch[::-1])

    async def test_an_idempotent_retry_with_a_wrong_exact_version_conflicts(
        self, store: EventStore
    ) -> None:
        batch = new_events(2)
        await store.append("s-1", batch, 0)
        with pytest.raises(ConcurrencyError):
            await store.append("s-1", batch, 1)

    @pytest.mark.parametrize(
        "stream_id", ["", "   ", None, 42], ids=["empty", "blank", "none", "int"]
    )
    async def test_a_bad_stream_id_is_rejected(self, store: EventStore, stream_id: Any) -> None:
        with pytest.raises(InvalidInputError):
            await store.append(stream_id, new_events(1))
        assert await store.head_position() == 0

    @pytest.mark.parametrize(
        "expected", ["any", True, -1, 1.5, None], ids=["str", "bool", "negative", "float", "none"]
    )
    async def test_an_unknown_expected_version_form_is_rejected(
        self, store: EventStore, expected: Any
    ) -> None:
        with pytest.raises(InvalidInputError):
            await store.append("s-1", new_events(1), expected)
        assert await store.head_position() == 0

    @pytest.mark.parametrize(
        "data",
        [
            {"when": object()},
            {"tags": {1, 2}},
            {"x": math.nan},
            {"x": math.inf},
            {1: "int key"},
            _containing_itself(),
        ],
        ids=["object", "set", "nan", "inf", "int-key", "circular"],
    )
    async def test_non_json_data_is_rejected_and_nothing_is_written(
        self, store: EventStore, data: Any
    ) -> None:
        await store.append("s-1", new_events(1))
        head = await store.head_position()
        with pytest.raises(InvalidInputError):
            await store.append("s-1", [new_event(n=1), NewEvent("Bad", data)])
        assert await store.stream_version("s-1") == 1
        assert await store.head_position() == head

    async def test_non_json_metadata_is_rejected(self, store: EventStore) -> None:
        with pytest.raises(InvalidInputError):
            await store.append("s-1", [NewEvent("E", {}, {"at": object()})])
        assert await store.head_position() == 0

    @pytest.mark.parametrize(
        "events",
        [[], "abc", [{"event_type": "E"}], [NewEvent("", {})], None],
        ids=["empty", "string", "dict", "empty-type", "none"],
    )
    async def test_a_malformed_event_list_is_rejected(self, store: EventStore, events: Any) -> None:
        with pytest.raises(InvalidInputError):
            await store.append("s-1", events)
        assert await store.head_position() == 0

    async def test_an_id_repeated_inside_one_append_is_rejected(self, store: EventStore) -> None:
        event_id = uuid4()
        with pytest.raises(InvalidInputError):
            await store.append("s-1", [new_event(event_id=event_id), new_event(event_id=event_id)])
        assert await store.head_position() == 0
