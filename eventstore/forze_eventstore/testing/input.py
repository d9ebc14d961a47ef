"""Contract: every store accepts the same text and integers (``EventStore`` guarantee 7).

Text PostgreSQL cannot keep (NUL, surrogate code points) is refused by every store with
``InvalidInputError`` before anything is written, wherever it appears; positions, versions and
limits beyond what every store can hold are refused the same way.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forze.contracts import EventStore, NewEvent
from forze.domain.errors import ConcurrencyError, InvalidInputError
from forze_eventstore.testing.base import StoreFactory
from forze_eventstore.testing.helpers import new_event, new_events

__all__ = ["InputContract"]

_POSITIONS = 2**63 - 1
_VERSIONS = 2**31 - 1
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

_BAD_TEXT = ["\x00", "\ud800", "\udfff", "\ud83d\ude00"]
_BAD_IDS = ["nul", "high-surrogate", "low-surrogate", "paired-surrogates"]

_ANY_CHARACTER = (
    st.characters() | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF) | st.just("\x00")
)
_any_text = st.text(max_size=12) | st.lists(_ANY_CHARACTER, max_size=12).map("".join)
"""Any text: ``st.text`` never draws surrogates, so half of it is joined from characters."""

_SETTINGS: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.differing_executors],
}


def _events_holding(bad: str) -> dict[str, NewEvent]:
    """One event per place a character can hide in an event."""
    return {
        "type": NewEvent(f"Placed{bad}", {}),
        "data-value": NewEvent("E", {"items": [{"sku": f"a{bad}b"}]}),
        "data-key": NewEvent("E", {"items": {f"k{bad}": 1}}),
        "metadata-value": NewEvent("E", {}, {"actor": f"ann{bad}"}),
        "metadata-key": NewEvent("E", {}, {f"x{bad}": "y"}),
    }


class InputContract(StoreFactory):
    """Unstorable text and out-of-range integers: one answer on every store."""

    @pytest.mark.parametrize("bad", _BAD_TEXT, ids=_BAD_IDS)
    async def test_a_stream_id_with_nul_or_a_surrogate_is_refused_on_append_and_read(
        self, store: EventStore, bad: str
    ) -> None:
        stream_id = f"s-{bad}"
        with pytest.raises(InvalidInputError, match="stream id"):
            await store.append(stream_id, new_events(1))
        with pytest.raises(InvalidInputError, match="stream id"):
            await store.append_many([(stream_id, new_events(1), 0)])
        with pytest.raises(InvalidInputError, match="stream id"):
            await store.read_stream(stream_id)
        with pytest.raises(InvalidInputError, match="stream id"):
            await store.stream_version(stream_id)
        assert await store.head_position() == 0

    @pytest.mark.parametrize("bad", _BAD_TEXT, ids=_BAD_IDS)
    @pytest.mark.parametrize("place", list(_events_holding("")))
    async def test_an_event_with_nul_or_a_surrogate_anywhere_is_refused_with_nothing_written(
        self, store: EventStore, bad: str, place: str
    ) -> None:
        await store.append("s-1", new_events(1))
        head = await store.head_position()
        event = _events_holding(bad)[place]
        with pytest.raises(InvalidInputError) as refused:
            await store.append("s-1", [new_event(), event])
        message = str(refused.value)
        assert ("NUL" in message) if bad == "\x00" else ("surrogate" in message)
        assert ("type" in message) if place == "type" else (place.split("-")[0] in message)
        with pytest.raises(InvalidInputError):
            await store.append_many([("s-2", new_events(1), 0), ("s-1", [event], 1)])
        assert await store.stream_version("s-1") == 1
        assert await store.head_position() == head

    @pytest.mark.parametrize("bad", _BAD_TEXT, ids=_BAD_IDS)
    async def test_other_text_round_trips_and_matches_but_a_filter_with_nul_or_a_surrogate_fails(
        self, store: EventStore, bad: str
    ) -> None:
        text = "😀 \\u0000 \\ud800 ä\U0010ffff"  # beyond the basic plane, and escape lookalikes
        event = NewEvent(f"Said{text}", {text: [text, {"k": text}]}, {"actor": text})
        await store.append(f"chat-{text}", [event])
        (stored,) = await store.read_stream(f"chat-{text}")
        assert (stored.event_type, stored.data, stored.metadata) == (
            event.event_type,
            event.data,
            event.metadata,
        )
        found = await store.read_all(event_types=[event.event_type], categories=["chat"])
        assert [e.stream_id for e in found] == [f"chat-{text}"]
        with pytest.raises(InvalidInputError, match="event_types"):
            await store.read_all(event_types=[f"E{bad}"])
        with pytest.raises(InvalidInputError, match="categories"):
            await store.read_all(categories=[f"s{bad}"])
        with pytest.raises(InvalidInputError, match="categories"):
            store.subscribe(categories=[f"s{bad}"])

    async def test_a_position_beyond_what_any_store_holds_is_refused(
        self, store: EventStore
    ) -> None:
        await store.append("s-1", new_events(2))
        assert list(await store.read_all(after=_POSITIONS)) == []
        assert await store.count_events(after=_POSITIONS) == 0
        with pytest.raises(InvalidInputError, match="after"):
            await store.read_all(after=_POSITIONS + 1)
        with pytest.raises(InvalidInputError, match="after"):
            await store.count_events(after=2**64)
        with pytest.raises(InvalidInputError, match="after"):
            store.subscribe(after=_POSITIONS + 1)

    @pytest.mark.parametrize(
        "after",
        [2**63, 2**64, -1, True, 1.0, "1", None],
        ids=["2**63", "2**64", "negative", "bool", "float", "str", "none"],
    )
    async def test_an_impossible_position_is_refused_alike_by_every_feed_read(
        self, store: EventStore, after: Any
    ) -> None:
        await store.append("s-1", new_events(1))
        with pytest.raises(InvalidInputError, match="after"):
            await store.read_all(after=after)
        with pytest.raises(InvalidInputError, match="after"):
            await store.count_events(after=after)
        with pytest.raises(InvalidInputError, match="after"):
            store.subscribe(after=after)

    async def test_a_subscription_from_the_highest_position_waits_without_error(
        self, store: EventStore
    ) -> None:
        await store.append("s-1", new_events(1))

        async def append_soon() -> None:
            await asyncio.sleep(0.1)
            await store.append("s-2", new_events(1))

        feed = store.subscribe(after=_POSITIONS)
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(append_soon())
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(anext(feed), 0.5)
        finally:
            await feed.aclose()

    @pytest.mark.parametrize("budget", [2**63, 2**64], ids=["2**63", "2**64"])
    async def test_a_byte_budget_beyond_what_any_store_holds_is_refused(
        self, store: EventStore, budget: int
    ) -> None:
        await store.append("s-1", new_events(2))
        assert len(await store.read_all(max_bytes=_POSITIONS)) == 2
        assert len(await store.read_stream("s-1", max_bytes=_POSITIONS)) == 2
        with pytest.raises(InvalidInputError, match="max_bytes"):
            await store.read_all(max_bytes=budget)
        with pytest.raises(InvalidInputError, match="max_bytes"):
            await store.read_stream("s-1", max_bytes=budget)

    async def test_a_limit_beyond_what_any_store_holds_is_refused(self, store: EventStore) -> None:
        await store.append("s-1", new_events(2))
        assert len(await store.read_all(limit=_POSITIONS)) == 2
        assert len(await store.read_stream("s-1", limit=_POSITIONS)) == 2
        with pytest.raises(InvalidInputError, match="limit"):
            await store.read_all(limit=_POSITIONS + 1)
        with pytest.raises(InvalidInputError, match="limit"):
            await store.read_stream("s-1", limit=_POSITIONS + 1)

    @pytest.mark.parametrize("backwards", [False, True], ids=["forwards", "backwards"])
    async def test_a_from_version_beyond_what_any_store_holds_is_refused(
        self, store: EventStore, backwards: bool
    ) -> None:
        await store.append("s-1", new_events(2))
        beyond = await store.read_stream("s-1", from_version=_VERSIONS, backwards=backwards)
        assert [e.version for e in beyond] == ([2, 1] if backwards else [])
        for version in (_VERSIONS + 1, 2**63):
            with pytest.raises(InvalidInputError, match="from_version"):
                await store.read_stream("s-1", from_version=version, backwards=backwards)

    async def test_an_expected_version_no_store_can_hold_is_invalid_and_one_it_can_conflicts(
        self, store: EventStore
    ) -> None:
        await store.append("s-1", new_events(1))
        for version in (_VERSIONS + 1, 2**63):
            with pytest.raises(InvalidInputError, match="expected_version"):
                await store.append("s-1", new_events(1), version)
            with pytest.raises(InvalidInputError, match="expected_version"):
                await store.append_many(
                    [("s-2", new_events(1), 0), ("s-1", new_events(1), version)]
                )
        with pytest.raises(ConcurrencyError) as conflict:
            await store.append("s-1", new_events(1), _VERSIONS)
        assert (conflict.value.expected, conflict.value.actual) == (_VERSIONS, 1)
        assert await store.head_position() == (await store.read_all())[-1].position
        assert len(await store.read_all()) == 1

    async def test_the_highest_expected_version_conflicts_everywhere_and_writes_nothing(
        self, store: EventStore
    ) -> None:
        await store.append("s-1", new_events(1))
        head = await store.head_position()
        for stream_id, actual in (("s-1", 1), ("missing-1", 0)):
            with pytest.raises(ConcurrencyError) as conflict:
                await store.append(stream_id, new_events(1), _VERSIONS)
            assert (conflict.value.expected, conflict.value.actual) == (_VERSIONS, actual)
            with pytest.raises(ConcurrencyError) as conflict:
                await store.append_many(
                    [("s-2", new_events(1), 0), (stream_id, new_events(1), _VERSIONS)]
                )
            assert (conflict.value.expected, conflict.value.actual) == (_VERSIONS, actual)
            with pytest.raises(InvalidInputError, match="expected_version"):
                await store.append(stream_id, new_events(1), _VERSIONS + 1)
        assert await store.head_position() == head
        assert await store.stream_version("s-2") == 0

    @settings(max_examples=40, **_SETTINGS)
    @given(text=_any_text)
    def test_any_text_round_trips_exactly_or_is_refused_as_unstorable(self, text: str) -> None:
        async def scenario() -> None:
            async with self.open_store() as store:
                event = NewEvent(f"T{text}", {text: text, "list": [text]}, {text: [text]})
                unstorable = _UNSTORABLE.search(text) is not None
                try:
                    await store.append(f"s-{text}", [event])
                except InvalidInputError:
                    assert unstorable, f"{text!r} was refused"
                    assert await store.head_position() == 0
                    return
                assert not unstorable, f"{text!r} was stored"
                (stored,) = await store.read_stream(f"s-{text}")
                assert stored.stream_id == f"s-{text}"
                assert (stored.event_type, stored.data, stored.metadata) == (
                    event.event_type,
                    event.data,
                    event.metadata,
                )

        asyncio.run(scenario())
