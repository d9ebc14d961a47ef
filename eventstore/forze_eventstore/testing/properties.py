"""Contract: properties checked over generated data and generated interleavings."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forze.contracts import AppendResult, EventStore, ExpectedVersion, ExpectedVersionArg, NewEvent
from forze.domain.errors import ConcurrencyError
from forze_eventstore.testing.base import StoreFactory
from forze_eventstore.testing.helpers import new_events

__all__ = ["PropertyContract"]

# NUL (and surrogates, which this alphabet never draws) no store keeps: the input contract
# (forze_eventstore.testing.input) checks that every store refuses them the same way.
_TEXT = st.characters(codec="utf-8", exclude_characters="\x00")
_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(_TEXT, max_size=20)
)
json_values = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(_TEXT, max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(_TEXT, max_size=8), json_values, max_size=5)

# Each adapter's test class runs these inherited methods: "differing executors" is the design.
_SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.differing_executors],
}

_expected_forms = st.sampled_from(["any", "no_stream", "exists", "exact", "stale"])


@dataclass(frozen=True)
class _Step:
    writer: int
    stream: int
    size: int
    expected: str
    yields: int


_steps = st.lists(
    st.builds(
        _Step,
        writer=st.integers(0, 3),
        stream=st.integers(0, 2),
        size=st.integers(1, 3),
        expected=_expected_forms,
        yields=st.integers(0, 2),
    ),
    min_size=1,
    max_size=25,
)


class PropertyContract(StoreFactory):
    """Round-trips of any JSON, and invariants under random concurrent interleavings."""

    @settings(max_examples=40, **_SETTINGS)  # type: ignore[arg-type]
    @given(data=json_objects, metadata=json_objects)
    def test_any_json_data_and_metadata_round_trip_exactly(
        self, data: dict[str, Any], metadata: dict[str, Any]
    ) -> None:
        async def scenario() -> None:
            async with self.open_store() as store:
                event = NewEvent("Anything", data, metadata)
                await store.append("s-1", [event])
                (stored,) = await store.read_all()
                assert stored.data == data
                assert stored.metadata == metadata
                assert stored.event_id == event.event_id

        asyncio.run(scenario())

    @settings(max_examples=30, **_SETTINGS)  # type: ignore[arg-type]
    @given(steps=_steps, seed=st.integers(0, 1000))
    def test_interleaved_writers_leave_a_gap_free_consistent_log(
        self, steps: list[_Step], seed: int
    ) -> None:
        asyncio.run(self._run_interleaving(steps, random.Random(seed)))

    async def _run_interleaving(self, steps: list[_Step], rng: random.Random) -> None:
        async with self.open_store() as store:
            accepted: list[tuple[list[NewEvent], AppendResult, int | None]] = []
            rejected: list[list[NewEvent]] = []

            async def run_writer(writer: int) -> None:
                for step in (s for s in steps if s.writer == writer):
                    stream_id = f"p-{step.stream}"
                    seen = await store.stream_version(stream_id)
                    for _ in range(step.yields):
                        await asyncio.sleep(0)
                    expected = _expected(step.expected, seen, rng)
                    batch = new_events(step.size)
                    try:
                        result = await store.append(stream_id, batch, expected)
                    except ConcurrencyError:
                        rejected.append(batch)
                        continue
                    exact = expected if isinstance(expected, int) else None
                    accepted.append((batch, result, exact))

            await asyncio.gather(*(run_writer(w) for w in range(4)))
            await _check_log(store, accepted, rejected)


def _expected(form: str, seen: int, rng: random.Random) -> ExpectedVersionArg:
    if form == "any":
        return ExpectedVersion.ANY
    if form == "no_stream":
        return ExpectedVersion.NO_STREAM
    if form == "exists":
        return ExpectedVersion.STREAM_EXISTS
    if form == "exact":
        return seen
    return max(0, seen - rng.randint(1, 2)) if seen else seen + 1


async def _check_log(
    store: EventStore,
    accepted: list[tuple[list[NewEvent], AppendResult, int | None]],
    rejected: list[list[NewEvent]],
) -> None:
    log = list(await store.read_all())
    positions = [e.position for e in log]
    assert positions == sorted(set(positions))
    assert await store.head_position() == (positions[-1] if positions else 0)
    by_id = {e.event_id: e for e in log}
    assert len(by_id) == len(log)
    assert len(log) == sum(len(batch) for batch, _, _ in accepted)
    for batch in rejected:
        assert all(e.event_id not in by_id for e in batch)
    for batch, result, exact in accepted:
        stored = [by_id[e.event_id] for e in batch]
        assert [s.version for s in stored] == list(
            range(result.version - len(batch) + 1, result.version + 1)
        )
        assert [s.position for s in stored] == sorted(s.position for s in stored)
        assert stored[-1].position == result.position
        assert all(s.stream_id == result.stream_id for s in stored)
        if exact is not None:
            assert stored[0].version == exact + 1
        assert await store.append(result.stream_id, batch) == result
    for stream_id in {e.stream_id for e in log}:
        versions = [e.version for e in log if e.stream_id == stream_id]
        assert versions == list(range(1, len(versions) + 1))
        assert [e.version for e in await store.read_stream(stream_id)] == versions
