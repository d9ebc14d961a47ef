"""Contract: ``append_many`` appends to several streams all or nothing, each part as ``append``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forze.contracts import EventStore, ExpectedVersion, ExpectedVersionArg, StreamAppend
from forze.domain.errors import ConcurrencyError, DuplicateEventIdError, InvalidInputError
from forze_eventstore.testing.base import StoreFactory
from forze_eventstore.testing.helpers import collect, new_event, new_events

__all__ = ["BatchContract"]

_SETTINGS: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.differing_executors],
}


@dataclass(frozen=True)
class _Part:
    stream: int
    size: int
    expectation: str  # "any", "right" (the version the stream will have), "wrong", "new"


_parts = st.lists(
    st.builds(
        _Part,
        stream=st.integers(0, 2),
        size=st.integers(1, 3),
        expectation=st.sampled_from(["any", "right", "right", "wrong", "new"]),
    ),
    min_size=1,
    max_size=6,
)


class BatchContract(StoreFactory):
    """``append_many``: atomic across streams, ordered, idempotent, validated up front."""

    async def test_a_batch_appends_each_part_and_returns_each_result(
        self, store: EventStore
    ) -> None:
        await store.append("order-2", new_events(1))
        results = await store.append_many(
            [
                StreamAppend("order-1", new_events(2), ExpectedVersion.NO_STREAM),
                StreamAppend("order-2", new_events(1), 1),
                ("order-3", new_events(1), ExpectedVersion.ANY),
            ]
        )
        assert [(r.stream_id, r.version) for r in results] == [
            ("order-1", 2),
            ("order-2", 2),
            ("order-3", 1),
        ]
        feed = (await store.read_all())[1:]
        assert [(e.stream_id, e.version) for e in feed] == [
            ("order-1", 1),
            ("order-1", 2),
            ("order-2", 2),
            ("order-3", 1),
        ]
        assert [r.position for r in results] == [e.position for e in (feed[1], feed[2], feed[3])]
        assert await store.head_position() == results[-1].position

    async def test_a_later_part_sees_the_earlier_parts_of_its_stream(
        self, store: EventStore
    ) -> None:
        results = await store.append_many(
            [("s-1", new_events(2), ExpectedVersion.NO_STREAM), ("s-1", new_events(1), 2)]
        )
        assert [r.version for r in results] == [2, 3]
        assert [e.version for e in await store.read_stream("s-1")] == [1, 2, 3]

    async def test_one_part_off_its_expected_version_stores_no_part(
        self, store: EventStore
    ) -> None:
        await store.append("order-2", new_events(1))
        with pytest.raises(ConcurrencyError) as raised:
            await store.append_many([("order-1", new_events(2), 0), ("order-2", new_events(1), 5)])
        assert raised.value.stream_id == "order-2"
        assert await store.stream_version("order-1") == 0
        assert len(await store.read_all()) == 1
        assert (await store.append("order-1", new_events(1), 0)).version == 1

    async def test_a_stored_batch_appended_again_returns_its_original_results(
        self, store: EventStore
    ) -> None:
        batch = [("import-1", new_events(2), 0), ("import-2", new_events(1), 0)]
        first = await store.append_many(batch)
        assert await store.append_many(batch) == first
        assert len(await store.read_all()) == 3

    async def test_an_event_id_stored_elsewhere_fails_the_whole_batch(
        self, store: EventStore
    ) -> None:
        reused = new_event(event_id=uuid4())
        await store.append("import-1", [reused])
        with pytest.raises(DuplicateEventIdError):
            await store.append_many([("import-2", new_events(1), 0), ("import-3", [reused], 0)])
        assert [e.stream_id for e in await store.read_all()] == ["import-1"]

    async def test_bad_input_anywhere_is_refused_before_anything_is_written(
        self, store: EventStore
    ) -> None:
        bad: list[Any] = [
            [("ok-1", new_events(1), 0), ("bad-1", [new_event(x=float("nan"))], 0)],
            [("ok-1", new_events(1), 0), ("", new_events(1), 0)],
            [("ok-1", new_events(1), 0), ("ok-2", [], 0)],
            [("ok-1", new_events(1))],
            [("ok-1", new_events(1), "latest")],
            "ok-1",
        ]
        for batch in bad:
            with pytest.raises(InvalidInputError):
                await store.append_many(batch)
        assert await store.read_all() == []
        assert await store.append_many([]) == []

    async def test_subscribers_receive_a_batch_in_its_order(self, store: EventStore) -> None:
        feed = store.subscribe()
        waiting = asyncio.ensure_future(collect(feed, 3))
        await asyncio.sleep(0.05)
        await store.append_many([("a-1", new_events(2), 0), ("b-1", new_events(1), 0)])
        received = await waiting
        assert [(e.stream_id, e.version) for e in received] == [("a-1", 1), ("a-1", 2), ("b-1", 1)]
        await feed.aclose()

    @settings(max_examples=30, **_SETTINGS)
    @given(parts=_parts)
    def test_a_batch_stores_what_its_parts_would_or_nothing(self, parts: list[_Part]) -> None:
        async def scenario() -> None:
            async with self.open_store() as store:
                await store.append("p-0", new_events(1))
                versions = {"p-0": 1, "p-1": 0, "p-2": 0}
                batch: list[tuple[str, Any, ExpectedVersionArg]] = []
                fails = False
                for part in parts:
                    stream = f"p-{part.stream}"
                    expected = _expected(part.expectation, versions[stream])
                    fails = fails or not _holds(expected, versions[stream])
                    versions[stream] += part.size
                    batch.append((stream, new_events(part.size), expected))
                before = await store.read_all()
                if fails:
                    with pytest.raises(ConcurrencyError):
                        await store.append_many(batch)
                    assert await store.read_all() == before
                    return
                results = await store.append_many(batch)
                for stream, version in versions.items():
                    assert await store.stream_version(stream) == version
                positions = [r.position for r in results]
                assert positions == sorted(positions)
                feed = await store.read_all()
                assert len(feed) == len(before) + sum(p.size for p in parts)

        asyncio.run(scenario())


def _expected(form: str, current: int) -> ExpectedVersionArg:
    if form == "any":
        return ExpectedVersion.ANY
    if form == "new":
        return ExpectedVersion.NO_STREAM
    if form == "wrong":
        return current + 7
    return current if current else ExpectedVersion.NO_STREAM


def _holds(expected: ExpectedVersionArg, current: int) -> bool:
    if expected is ExpectedVersion.ANY:
        return True
    if expected is ExpectedVersion.NO_STREAM:
        return current == 0
    return expected == current
