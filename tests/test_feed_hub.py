"""The live feed's hub: one subscription shared by every client of a process, started with
the first client and stopped with the last, never while a client depends on it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

from forze import NewEvent
from forze_eventstore import InMemoryEventStore
from forze_fastapi._hub import FeedHub, Rendered

PATIENCE = 5.0


async def _registered(hub: FeedHub, clients: int) -> None:
    """Wait until ``clients`` clients wait for the hub's live events."""
    async with asyncio.timeout(PATIENCE):
        while hub.clients != clients:  # noqa: ASYNC110 - the hub has no event to wait on
            await asyncio.sleep(0.01)


async def _positions(following: AsyncGenerator[Rendered, None], count: int) -> list[int]:
    return [(await following.__anext__()).position for _ in range(count)]


async def test_a_client_that_joins_while_the_last_client_leaves_still_gets_live_events() -> None:
    store = InMemoryEventStore(poll_interval=0.02)
    await store.append("s-1", [NewEvent("Placed", {}) for _ in range(3)])
    hub = FeedHub(store)
    leaving = hub.follow(0, None, None)
    assert await _positions(leaving, 3) == [1, 2, 3]
    waiting = asyncio.ensure_future(leaving.__anext__())
    await _registered(hub, 1)  # the hub's subscription runs for it

    joining = hub.follow(0, None, None)
    assert await _positions(joining, 1) == [1]  # joined, still catching up
    waiting.cancel()  # the only registered client leaves: the hub may stop
    with contextlib.suppress(asyncio.CancelledError):
        await waiting
    await leaving.aclose()

    assert await _positions(joining, 2) == [2, 3]
    live = asyncio.ensure_future(joining.__anext__())
    await _registered(hub, 1)  # caught up: now it waits for the hub
    await store.append("s-2", [NewEvent("Shipped", {})])
    assert (await asyncio.wait_for(live, PATIENCE)).position == 4
    await joining.aclose()
    assert hub.clients == 0
