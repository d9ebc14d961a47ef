"""EventStoreView: a decorator of any event store, one hook before each call."""

from __future__ import annotations

import pytest

from forze import NewEvent, ReadOnlyOperationError
from forze.adapter_kit import EventStoreView, ReadOnlyEventStore
from forze.contracts import EventStore
from forze_eventstore import InMemoryEventStore


class Recording(EventStoreView):
    def __init__(self, store: EventStore) -> None:
        super().__init__(store)
        self.calls: list[str] = []

    async def before(self, operation: str) -> None:
        self.calls.append(operation)


async def test_a_view_runs_its_hook_before_each_call_and_returns_the_stores_answers() -> None:
    store = InMemoryEventStore()
    view = Recording(store)
    result = await view.append("order-1", [NewEvent("Placed", {})])
    await view.append_many([("order-2", [NewEvent("Placed", {})], 0)])
    assert [e.event_id for e in await view.read_stream("order-1")] == [
        e.event_id for e in await store.read_stream("order-1")
    ]
    assert len(await view.read_all()) == 2
    assert await view.stream_version("order-1") == result.version == 1
    assert await view.count_events() == 2
    assert await view.head_position() == await store.head_position()
    feed = view.subscribe()
    assert (await anext(feed)).stream_id == "order-1"
    await feed.aclose()
    assert view.calls == [
        "append",
        "append_many",
        "read_stream",
        "read_all",
        "stream_version",
        "count_events",
        "head_position",
    ]


async def test_a_read_only_view_refuses_appends_and_stores_nothing() -> None:
    store = InMemoryEventStore()
    view = ReadOnlyEventStore(store)
    with pytest.raises(ReadOnlyOperationError):
        await view.append("order-1", [NewEvent("Placed", {})])
    with pytest.raises(ReadOnlyOperationError):
        await view.append_many([("order-1", [NewEvent("Placed", {})], 0)])
    assert await view.read_all() == []
    assert not hasattr(view, "store")
