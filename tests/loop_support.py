"""Watching whether a run of work lets the event loop turn while it goes on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sized
from typing import Any


async def progress_seen_meanwhile(work: Awaitable[Any], done: Sized) -> set[int]:
    """Run ``work`` while another task looks at ``len(done)`` at every turn of the loop;
    return the values it saw. A run that never lets the loop turn is seen only before it
    started and after it ended."""
    seen: set[int] = set()

    async def watch() -> None:
        while True:
            seen.add(len(done))
            await asyncio.sleep(0)

    async with asyncio.TaskGroup() as group:
        watcher = group.create_task(watch())
        await asyncio.sleep(0)  # the watcher looks once before the work starts
        await work
        watcher.cancel()
    return seen


def midway(seen: set[int], total: int) -> set[int]:
    """The values of ``seen`` strictly between nothing done and everything done."""
    return {count for count in seen if 0 < count < total}
