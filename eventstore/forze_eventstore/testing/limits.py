"""Contract: appends beyond a store's ``EventLimits`` are refused before anything is written,
and whatever an append accepts reads back, through a repository too."""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forze import Aggregate, AggregateSpec, DomainEvent, EventType
from forze.contracts import EventStore, ExpectedVersion, NewEvent, StreamAppend
from forze.domain.errors import InvalidInputError
from forze_eventstore.limits import EventLimits
from forze_eventstore.repository import EventSourcedRepository
from forze_eventstore.testing.base import StoreFactory
from forze_eventstore.testing.helpers import new_event

__all__ = ["LimitedStoreFactory", "LimitsContract", "nested"]

SMALL = EventLimits(
    max_event_bytes=2_000, max_stream_id_length=40, max_event_type_length=20, max_depth=8
)
"""Limits small enough to test at and just past every one of them."""


def nested(depth: int, leaf: object = 1) -> dict[str, Any]:
    """A mapping whose containers nest ``depth`` deep (``{"a": 1}`` is 1), mixing lists in."""
    value: object = leaf
    for level in range(depth - 1):
        value = [value] if level % 2 else {"a": value}
    return {"top": value}


def _with_size(size: int) -> dict[str, Any]:
    """Data whose JSON text (``{"blob":"xx..."}``) is exactly ``size`` bytes."""
    return {"blob": "x" * (size - len('{"blob":""}'))}


class LimitedStoreFactory(StoreFactory):
    """Declares how a contract gets a fresh, empty store with given limits."""

    @abstractmethod
    def open_limited_store(self, limits: EventLimits) -> AbstractAsyncContextManager[EventStore]:
        """Like ``open_store``, for a store constructed with ``limits=limits``."""


class Deep(DomainEvent):
    """An event whose payload nests as deep as the test makes it."""

    payload: dict[str, Any]


class Holder(Aggregate[Deep]):
    """Keeps the last payload it was given."""

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.payload: Mapping[str, Any] = {}

    def apply(self, event: Deep) -> None:
        """Keep the payload."""
        self.payload = event.payload


HOLDERS: AggregateSpec[Holder] = AggregateSpec(
    name="holder", factory=Holder, events=(EventType("Deep", Deep),)
)


class LimitsContract(LimitedStoreFactory):
    """Stream ids, event types, event sizes and nesting depth are bounded at append."""

    async def test_names_longer_than_the_default_limits_are_refused_as_bad_input(
        self, store: EventStore
    ) -> None:
        with pytest.raises(InvalidInputError, match="max_stream_id_length=500"):
            await store.append("s-" + "x" * 10_000, [new_event()])
        with pytest.raises(InvalidInputError, match="max_event_type_length=200"):
            await store.append("s-1", [new_event("T" * 100_000)])
        assert await store.head_position() == 0

    async def test_names_at_the_default_limits_in_four_byte_characters_append_and_read_back(
        self, store: EventStore
    ) -> None:
        """The defaults fit every index: 500 and 200 characters of 4 UTF-8 bytes each."""
        stream = "\U0001f600" * 500
        event_type = "\U0001f600" * 200
        await store.append(stream, [NewEvent(event_type, {"n": 1})])
        (stored,) = await store.read_stream(stream)
        assert (stored.stream_id, stored.event_type) == (stream, event_type)
        assert [e.event_type for e in await store.read_all(event_types=[event_type])] == [
            event_type
        ]

    async def test_an_event_nested_deeper_than_the_default_limit_is_refused_at_append(
        self, store: EventStore
    ) -> None:
        with pytest.raises(InvalidInputError, match="max_depth=100"):
            await store.append("s-1", [NewEvent("Deep", nested(101))])
        with pytest.raises(InvalidInputError):  # the case: never stored, then unreadable
            await store.append("s-1", [NewEvent("Deep", nested(980))])
        with pytest.raises(InvalidInputError, match="metadata nests more than max_depth"):
            await store.append("s-1", [NewEvent("Deep", {}, metadata=nested(101))])
        assert await store.head_position() == 0

    async def test_an_event_at_the_default_depth_limit_loads_back_through_a_repository(
        self, store: EventStore
    ) -> None:
        repository = EventSourcedRepository(HOLDERS, store)
        async with repository.create("h1") as holder:
            holder.emit(Deep(payload=nested(99)))  # the event's data: {"payload": ...}
        (stored,) = await store.read_stream("holder-h1")
        assert stored.data == {"payload": nested(99)}
        loaded = await repository.load("h1")
        assert loaded.payload == nested(99)

    async def test_names_and_events_at_each_limit_append_and_read_back(self) -> None:
        stream = "s-" + "x" * (SMALL.max_stream_id_length - 2)
        events = [
            NewEvent("T" * SMALL.max_event_type_length, _with_size(SMALL.max_event_bytes - 2)),
            NewEvent("Deep", nested(SMALL.max_depth), metadata=nested(SMALL.max_depth)),
        ]
        async with self.open_limited_store(SMALL) as store:
            await store.append(stream, events)
            await store.append_many([StreamAppend("b-1", [NewEvent("Deep", nested(8))], 0)])
            stored = await store.read_stream(stream)
            assert [(e.event_type, e.data, e.metadata) for e in stored] == [
                (e.event_type, e.data, e.metadata) for e in events
            ]

    @pytest.mark.parametrize(
        ("stream", "event", "limit"),
        [
            ("s-" + "x" * 39, new_event(), "max_stream_id_length=40"),
            ("s-1", new_event("T" * 21), "max_event_type_length=20"),
            ("s-1", NewEvent("Big", _with_size(1_999)), "max_event_bytes=2000"),
            ("s-1", NewEvent("Big", {}, metadata=_with_size(1_999)), "max_event_bytes=2000"),
            ("s-1", NewEvent("Deep", nested(9)), "max_depth=8"),
        ],
    )
    async def test_an_append_past_a_limit_is_refused_naming_it_and_stores_nothing(
        self, stream: str, event: NewEvent, limit: str
    ) -> None:
        async with self.open_limited_store(SMALL) as store:
            await store.append("s-1", [new_event()])
            with pytest.raises(InvalidInputError, match=limit):
                await store.append(stream, [new_event(), event])
            with pytest.raises(InvalidInputError, match=limit):
                await store.append_many(
                    [("other-1", [new_event()], ExpectedVersion.ANY), (stream, [event], 1)]
                )
            assert [e.version for e in await store.read_all()] == [1]

    @given(
        shape=st.integers(1, 14).map(lambda depth: nested(depth)["top"])
        | st.recursive(
            st.integers(-9, 9) | st.text("ab{[", max_size=3),
            lambda inner: (
                st.lists(inner, max_size=2)
                | st.dictionaries(st.text("ab", max_size=3), inner, max_size=2)
            ),
            max_leaves=12,
        )
    )
    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
    )
    def test_data_within_the_depth_limit_reads_back_and_deeper_data_is_refused(
        self, shape: object
    ) -> None:
        data = {"shape": shape}
        depth = _depth(data)

        async def scenario() -> None:
            async with self.open_limited_store(SMALL) as store:
                event = NewEvent("Deep", data, event_id=uuid4())
                if depth > SMALL.max_depth:
                    with pytest.raises(InvalidInputError, match="max_depth=8"):
                        await store.append("s-1", [event])
                    assert await store.head_position() == 0
                else:
                    await store.append("s-1", [event])
                    (stored,) = await store.read_all()
                    assert stored.data == data

        asyncio.run(scenario())


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0
