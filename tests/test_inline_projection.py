"""Inline projections: the read model changes in the same SQLite transaction as the append."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

from forze import (
    NewEvent,
    ReadModelSpec,
    ReadModelStores,
    RecordedEvent,
    SerializationError,
    WiringError,
)
from forze_eventstore import SQLiteDatabase, SQLiteEventStore
from forze_projections import (
    Projection,
    ProjectionFailed,
    SQLiteProjectionBackend,
    add_inline_projection,
)
from forze_projections.testing import (
    Scored,
    append_scores,
    documents,
    score_fold,
    scored,
    scores,
)


class Tally(BaseModel):
    id: str
    count: int = 0


TALLIES = ReadModelSpec("tallies", Tally)


async def _count(event: RecordedEvent, read_models: ReadModelStores) -> None:
    store = read_models(TALLIES)
    if event.data.get("explode"):
        await store.upsert(Tally(id=event.stream_id, count=-1))
        raise RuntimeError("boom")
    current = await store.get(event.stream_id) or Tally(id=event.stream_id)
    await store.upsert(Tally(id=event.stream_id, count=current.count + 1))


TALLY = Projection("tally", 1, {"Counted": _count}, read_models=(TALLIES,))


@pytest.fixture
def db() -> SQLiteDatabase:
    return SQLiteDatabase(":memory:")


async def tally(backend: SQLiteProjectionBackend, stream_id: str) -> int | None:
    found = await backend.serving()(TALLIES).get(stream_id)
    return None if found is None else found.count


async def test_each_append_updates_the_read_model_before_it_returns(db: SQLiteDatabase) -> None:
    store, backend = SQLiteEventStore(db), SQLiteProjectionBackend(db)
    await add_inline_projection(store, backend, TALLY)
    await store.append("c-1", [NewEvent("Counted", {}), NewEvent("Other", {})])
    assert await tally(backend, "c-1") == 1
    await store.append("c-1", [NewEvent("Counted", {})])
    assert await tally(backend, "c-1") == 2
    assert await backend.checkpoints.load(TALLY.checkpoint_name) == 3


async def test_events_stored_before_registration_are_caught_up(db: SQLiteDatabase) -> None:
    store, backend = SQLiteEventStore(db), SQLiteProjectionBackend(db)
    await store.append("c-1", [NewEvent("Counted", {}), NewEvent("Counted", {})])
    await add_inline_projection(store, backend, TALLY)
    assert await tally(backend, "c-1") == 2


async def test_a_failing_handler_rolls_the_append_back(db: SQLiteDatabase) -> None:
    store, backend = SQLiteEventStore(db), SQLiteProjectionBackend(db)
    await add_inline_projection(store, backend, TALLY)
    await store.append("c-1", [NewEvent("Counted", {})])
    with pytest.raises(ProjectionFailed, match="'Counted' at position 3"):
        await store.append("c-1", [NewEvent("Counted", {}), NewEvent("Counted", {"explode": 1})])
    assert await store.head_position() == 1
    assert await tally(backend, "c-1") == 1
    assert await backend.checkpoints.load(TALLY.checkpoint_name) == 1


async def test_concurrent_appends_keep_the_read_model_exact(db: SQLiteDatabase) -> None:
    store, backend = SQLiteEventStore(db), SQLiteProjectionBackend(db)
    await add_inline_projection(store, backend, TALLY)
    await asyncio.gather(
        *(store.append(f"c-{n % 3}", [NewEvent("Counted", {})]) for n in range(30))
    )
    assert [await tally(backend, f"c-{n}") for n in range(3)] == [10, 10, 10]


async def test_store_and_backend_must_share_one_database(db: SQLiteDatabase) -> None:
    store = SQLiteEventStore(db)
    backend = SQLiteProjectionBackend(SQLiteDatabase(":memory:"))
    with pytest.raises(WiringError, match="one SQLiteDatabase"):
        await add_inline_projection(store, backend, TALLY)


async def test_an_inline_typed_projection_sees_old_events_upcast(db: SQLiteDatabase) -> None:
    store, backend = SQLiteEventStore(db), SQLiteProjectionBackend(db)
    await append_scores(store, ("score-1", "5"), ("score-2", 2))
    seen: list[tuple[Scored, RecordedEvent]] = []
    await add_inline_projection(store, backend, scores(seen=seen))
    feed = await append_scores(store, ("score-1", "-3"), ("score-2", 4))
    assert [event for event, _ in seen] == [Scored(points=p) for p in (5, 2, -3, 4)]
    assert await documents(backend.serving()) == score_fold(feed)


async def test_an_inline_upcaster_failure_rolls_the_append_back_naming_where(
    db: SQLiteDatabase,
) -> None:
    store, backend = SQLiteEventStore(db), SQLiteProjectionBackend(db)
    await add_inline_projection(store, backend, scores())
    feed = await append_scores(store, ("score-1", "5"))
    with pytest.raises(ProjectionFailed) as caught:
        await store.append("score-1", [scored(1), scored("five")])
    assert isinstance(caught.value.cause, SerializationError)
    assert "position 3 (stream 'score-1', version 3)" in str(caught.value.cause)
    assert await store.head_position() == 1
    assert await documents(backend.serving()) == score_fold(feed)
