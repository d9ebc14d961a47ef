"""How long the event loop served no other task: a ticker task that measures its lateness.

A task that sleeps ``TICK`` in a loop wakes up late by however long the loop ran something
else without turning: a blocking call on the loop's thread (a commit's sync, a lock wait) or a
run of calls that never suspends. The benchmarks run it beside their timed work and print the
worst and 99th-percentile lateness.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["TICK", "Stalls", "stall_ticker"]

TICK = 0.001
"""The stall ticker's sleep: how often it checks that the event loop still serves it."""


class Stalls:
    """How late the stall ticker woke up, in seconds, once per tick."""

    def __init__(self) -> None:
        self.lateness: list[float] = []

    def worst_ms(self) -> float:
        """The longest time the event loop served no other task (beyond the tick)."""
        return 1000 * max(self.lateness, default=0.0)

    def p99_ms(self) -> float:
        """The 99th percentile of the lateness."""
        ordered = sorted(self.lateness)
        return 1000 * ordered[int(0.99 * (len(ordered) - 1))] if ordered else 0.0

    def shown(self) -> str:
        return f"worst {self.worst_ms():.1f} ms, p99 {self.p99_ms():.2f} ms"


@asynccontextmanager
async def stall_ticker() -> AsyncIterator[Stalls]:
    """Run a task that sleeps ``TICK`` in a loop and records how late it wakes up: a blocking
    call on the event loop's thread (a commit's fsync, a lock wait) shows as lateness."""
    stalls = Stalls()
    started = [time.perf_counter()]
    """When the tick in progress began (the ticker may not even have run once yet)."""

    async def tick() -> None:
        while True:
            started[0] = time.perf_counter()
            await asyncio.sleep(TICK)
            stalls.lateness.append(max(0.0, time.perf_counter() - started[0] - TICK))

    async with asyncio.TaskGroup() as group:
        ticker = group.create_task(tick())
        try:
            yield stalls
        finally:
            stalls.lateness.append(max(0.0, time.perf_counter() - started[0] - TICK))
            ticker.cancel()
