"""Two projectors of one projection on one backend never apply an event twice."""

from __future__ import annotations

import asyncio

from forze import NewEvent
from forze_cli._latency import YieldingEventStore
from forze_eventstore import SQLiteDatabase, SQLiteEventStore
from forze_projections import Projector, SQLiteProjectionBackend
from tests.test_inline_projection import TALLIES, TALLY


async def test_racing_projectors_of_one_checkpoint_apply_each_event_once() -> None:
    db = SQLiteDatabase(":memory:")
    store, backend = SQLiteEventStore(db), SQLiteProjectionBackend(db)
    for n in range(40):
        await store.append(f"c-{n % 4}", [NewEvent("Counted", {}), NewEvent("Counted", {})])
    networked = YieldingEventStore(store)  # reads suspend, so the two really interleave
    first = Projector(networked, backend, [TALLY], batch_size=3)
    second = Projector(networked, backend, [TALLY], batch_size=5)
    await asyncio.gather(first.catch_up(), second.catch_up())
    counts = [(await backend.serving()(TALLIES).get(f"c-{n}")) for n in range(4)]
    assert [c.count if c else None for c in counts] == [20, 20, 20, 20]
