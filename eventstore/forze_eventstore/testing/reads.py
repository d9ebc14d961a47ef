"""Contract: stream reads, the global feed and its filters."""

from __future__ import annotations

from typing import Any

import pytest

from forze.contracts import EventStore
from forze.domain.errors import InvalidInputError
from forze_eventstore.testing.base import StoreFactory
from forze_eventstore.testing.helpers import new_event, new_events

__all__ = ["ReadContract"]


class ReadContract(StoreFactory):
    """``read_stream``, ``read_all``, ``stream_version`` and ``head_position``."""

    async def test_a_missing_stream_reads_as_empty_at_version_zero(self, store: EventStore) -> None:
        assert list(await store.read_stream("nobody-1")) == []
        assert await store.stream_version("nobody-1") == 0
        assert await store.head_position() == 0

    async def test_a_stream_reads_forwards_from_a_version_with_a_limit(
        self, store: EventStore
    ) -> None:
        await store.append("s-1", new_events(10))
        events = await store.read_stream("s-1", from_version=4, limit=3)
        assert [e.version for e in events] == [4, 5, 6]
        assert list(await store.read_stream("s-1", from_version=11)) == []
        assert list(await store.read_stream("s-1", limit=0)) == []

    async def test_a_stream_reads_backwards_from_its_end_by_default(
        self, store: EventStore
    ) -> None:
        await store.append("s-1", new_events(5))
        assert [e.version for e in await store.read_stream("s-1", backwards=True)] == [
            5,
            4,
            3,
            2,
            1,
        ]
        latest = await store.read_stream("s-1", backwards=True, limit=1)
        assert [e.version for e in latest] == [5]
        middle = await store.read_stream("s-1", from_version=3, backwards=True, limit=2)
        assert [e.version for e in middle] == [3, 2]

    async def test_streams_do_not_mix(self, store: EventStore) -> None:
        await store.append("a-1", new_events(2))
        await store.append("a-10", new_events(3))
        assert await store.stream_version("a-1") == 2
        assert await store.stream_version("a-10") == 3
        assert {e.stream_id for e in await store.read_stream("a-1")} == {"a-1"}

    async def test_the_feed_orders_every_event_by_increasing_positions(
        self, store: EventStore
    ) -> None:
        await store.append("a-1", new_events(2))
        await store.append("b-1", new_events(3))
        await store.append("a-1", new_events(1))
        feed = await store.read_all()
        positions = [e.position for e in feed]
        assert positions == sorted(set(positions))
        assert positions[0] >= 1
        assert [e.stream_id for e in feed] == ["a-1", "a-1", "b-1", "b-1", "b-1", "a-1"]
        assert await store.head_position() == positions[-1]

    async def test_events_after_a_position_can_be_counted(self, store: EventStore) -> None:
        assert await store.count_events() == 0
        await store.append("a-1", new_events(4))
        await store.append("b-1", new_events(3))
        feed = await store.read_all()
        assert await store.count_events() == 7
        assert await store.count_events(after=feed[2].position) == 4
        assert await store.count_events(after=feed[-1].position) == 0
        with pytest.raises(InvalidInputError):
            await store.count_events(after=-1)

    async def test_the_feed_pages_after_a_position(self, store: EventStore) -> None:
        await store.append("a-1", new_events(10))
        feed = await store.read_all()
        page = await store.read_all(after=feed[2].position, limit=4)
        assert page == feed[3:7]
        assert list(await store.read_all(after=feed[-1].position)) == []

    async def test_the_feed_filters_by_event_type_and_category(self, store: EventStore) -> None:
        await store.append("order-1", [new_event("Placed"), new_event("Paid")])
        await store.append("customer-1", [new_event("Registered"), new_event("Paid")])
        await store.append("order-2", [new_event("Placed")])
        feed = await store.read_all()
        paid = await store.read_all(event_types=["Paid"])
        assert paid == [feed[1], feed[3]]
        orders = await store.read_all(categories={"order"})
        assert orders == [feed[0], feed[1], feed[4]]
        after_first = feed[0].position
        both = await store.read_all(
            event_types=("Placed",), categories=("order",), after=after_first
        )
        assert both == [feed[4]]
        assert await store.read_all(categories=["order"], limit=2) == feed[:2]
        assert list(await store.read_all(event_types=[])) == []

    async def test_the_category_is_the_part_before_the_first_dash(self, store: EventStore) -> None:
        await store.append("account-42-eur", new_events(1))
        await store.append("account", new_events(1))
        assert [e.category for e in await store.read_all()] == ["account", "account"]
        assert len(await store.read_all(categories=["account"])) == 2

    @pytest.mark.parametrize(
        "arguments",
        [{"from_version": 0}, {"from_version": -2}, {"limit": -1}, {"from_version": "1"}],
        ids=["zero", "negative", "negative-limit", "string"],
    )
    async def test_bad_stream_read_arguments_are_rejected(
        self, store: EventStore, arguments: dict[str, Any]
    ) -> None:
        with pytest.raises(InvalidInputError):
            await store.read_stream("s-1", **arguments)

    @pytest.mark.parametrize(
        "arguments",
        [{"after": -1}, {"limit": -5}, {"event_types": "Paid"}, {"categories": [1]}],
        ids=["negative-after", "negative-limit", "string-types", "int-category"],
    )
    async def test_bad_feed_read_arguments_are_rejected(
        self, store: EventStore, arguments: dict[str, Any]
    ) -> None:
        with pytest.raises(InvalidInputError):
            await store.read_all(**arguments)

    async def test_an_empty_stream_id_cannot_be_read(self, store: EventStore) -> None:
        with pytest.raises(InvalidInputError):
            await store.read_stream("")
        with pytest.raises(InvalidInputError):
            await store.stream_version("")
