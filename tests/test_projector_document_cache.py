"""The projector's document cache: fewer reads, never a stale document."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

from forze.contracts import NewEvent, Query, ReadModelSpec, ReadModelStores, RecordedEvent
from forze_eventstore import InMemoryEventStore
from forze_projections import DocumentCache, InMemoryProjectionBackend, Projection, Projector
from forze_projections.adapter_kit import InMemoryReadModelStore
from tests.loop_support import midway, progress_seen_meanwhile


class Count(BaseModel):
    stream: str
    total: int


COUNTS = ReadModelSpec(name="cache_counts", model=Count, key="stream")


async def _count(event: RecordedEvent, stores: ReadModelStores) -> None:
    current = await stores(COUNTS).get(event.stream_id)
    total = 1 if current is None else current.total + 1
    await stores(COUNTS).upsert(Count(stream=event.stream_id, total=total))


COUNTING = Projection("counting", 1, {"Ticked": _count}, read_models=(COUNTS,))


def _ticks(n: int) -> list[NewEvent]:
    return [NewEvent("Ticked", {}) for _ in range(n)]


async def _interleaved(store: InMemoryEventStore, streams: int, rounds: int) -> None:
    for _ in range(rounds):
        for s in range(streams):
            await store.append(f"tick-{s}", _ticks(1))


@pytest.fixture
def gets(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every key the in-memory read-model store is asked for."""
    asked: list[str] = []
    original = InMemoryReadModelStore.get

    async def counted(self: InMemoryReadModelStore[Count], key: str) -> Count | None:
        asked.append(key)
        return await original(self, key)

    monkeypatch.setattr(InMemoryReadModelStore, "get", counted)
    return asked


async def _totals(backend: InMemoryProjectionBackend) -> dict[str, int]:
    page = await backend.serving()(COUNTS).find(Query(limit=1000))
    return {c.stream: c.total for c in page.items}


async def test_a_rebuild_from_scratch_reads_no_document_back(gets: list[str]) -> None:
    store, backend = InMemoryEventStore(), InMemoryProjectionBackend()
    await _interleaved(store, streams=30, rounds=7)
    await Projector(store, backend, [COUNTING], batch_size=20).catch_up()
    assert gets == []
    assert await _totals(backend) == {f"tick-{s}": 7 for s in range(30)}


async def test_without_a_cache_each_batch_reads_its_documents_again(gets: list[str]) -> None:
    store, backend = InMemoryEventStore(), InMemoryProjectionBackend()
    await _interleaved(store, streams=30, rounds=7)
    await Projector(store, backend, [COUNTING], batch_size=20, cache_size=0).catch_up()
    assert len(gets) > 30
    assert await _totals(backend) == {f"tick-{s}": 7 for s in range(30)}


async def test_a_cache_smaller_than_the_read_model_still_counts_right(gets: list[str]) -> None:
    store, backend = InMemoryEventStore(), InMemoryProjectionBackend()
    await _interleaved(store, streams=30, rounds=7)
    await Projector(store, backend, [COUNTING], batch_size=20, cache_size=5).catch_up()
    assert gets, "evicted documents are read from the store again"
    assert await _totals(backend) == {f"tick-{s}": 7 for s in range(30)}


async def test_a_resumed_projection_reads_what_earlier_runs_wrote(gets: list[str]) -> None:
    store, backend = InMemoryEventStore(), InMemoryProjectionBackend()
    await _interleaved(store, streams=5, rounds=2)
    await Projector(store, backend, [COUNTING], batch_size=3).catch_up()
    await _interleaved(store, streams=5, rounds=2)
    await Projector(store, backend, [COUNTING], batch_size=3).catch_up()
    assert await _totals(backend) == {f"tick-{s}": 4 for s in range(5)}


async def test_a_checkpoint_moved_by_another_writer_drops_the_cache() -> None:
    store, backend = InMemoryEventStore(), InMemoryProjectionBackend()
    await store.append("tick-a", _ticks(1))
    projector = Projector(store, backend, [COUNTING], batch_size=10)
    async with projector:
        await _until(lambda: _total(backend, "tick-a"), 1)
        # Another writer (an inline hook, a second process) applies the next event itself.
        result = await store.append("tick-a", _ticks(1))
        async with backend.unit():
            await backend.writer("counting", 1)(COUNTS).upsert(Count(stream="tick-a", total=2))
            await backend.checkpoints.save(COUNTING.checkpoint_name, result.position)
        await store.append("tick-a", _ticks(1))
        await _until(lambda: _total(backend, "tick-a"), 3)
    assert await _total(backend, "tick-a") == 3


async def test_a_failed_batch_leaves_nothing_cached() -> None:
    failing = {"left": 1}

    async def flaky(event: RecordedEvent, stores: ReadModelStores) -> None:
        await _count(event, stores)
        if event.version == 3 and failing["left"]:
            failing["left"] -= 1
            raise RuntimeError("boom")

    projection = Projection("counting", 1, {"Ticked": flaky}, read_models=(COUNTS,))
    store, backend = InMemoryEventStore(), InMemoryProjectionBackend()
    await store.append("tick-a", _ticks(2))
    await Projector(store, backend, [projection], batch_size=10).catch_up()
    await store.append("tick-a", _ticks(2))
    with pytest.raises(Exception, match="boom"):
        await Projector(store, backend, [projection], batch_size=10).catch_up()
    await Projector(store, backend, [projection], batch_size=10).catch_up()
    assert await _total(backend, "tick-a") == 4


def test_a_cache_keeps_at_most_its_limit_and_then_is_no_longer_complete() -> None:
    cache = DocumentCache(limit=2)
    cache.mark_complete("m")
    for key in "abc":
        cache.documents("m")[key] = {"stream": key, "total": 1}
    cache.trim()
    assert list(cache.documents("m")) == ["b", "c"]
    assert not cache.is_complete("m")


async def _total(backend: InMemoryProjectionBackend, stream: str) -> int:
    found = await backend.serving()(COUNTS).get(stream)  # None before the first version
    return 0 if found is None else found.total


async def _until(read: object, wanted: int) -> None:
    for _ in range(200):
        if await read() == wanted:  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never reached {wanted}")


async def test_a_long_page_of_events_lets_the_other_tasks_run_while_it_is_handled() -> None:
    """Handlers seldom suspend (the stores buffer their writes), yet the loop turns every
    millisecond or so: another task sees the page at many points of its way."""
    handled: list[int] = []

    async def busy(event: RecordedEvent, stores: ReadModelStores) -> None:
        sum(range(2000))  # a handler's CPU work, a few microseconds
        handled.append(event.position)

    store = InMemoryEventStore()
    await store.append("tick-0", _ticks(3000))
    projection = Projection("busy", 1, {"Ticked": busy}, read_models=(COUNTS,))
    projector = Projector(store, InMemoryProjectionBackend(), [projection], batch_size=3000)
    seen = await progress_seen_meanwhile(projector.catch_up(), handled)
    assert len(handled) == 3000
    assert len(midway(seen, 3000)) >= 5, sorted(seen)
