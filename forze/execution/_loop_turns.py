"""Letting the event loop turn during a long run of work that never suspends.

An embedded store's reads and non-syncing commits run on the caller's thread with no
``await`` that suspends, and a projector's handlers are plain CPU work: each step is short,
but a task that makes thousands of them in a row (a projection catching up, an import, a loop
of appends to SQLite at ``synchronous="NORMAL"``) would otherwise hold the loop for the whole
run, and every other task of the process (an HTTP request, a subscription) would wait for it
to end. ``LoopTurns`` makes such a task step aside: before a step it checks whether the loop
has turned (run its other ready callbacks) within the last ``budget`` seconds, and if not it
awaits ``asyncio.sleep(0)`` first.

It learns that the loop turned from a callback of its own, queued with ``call_soon``: the
callback runs when the loop next runs its ready callbacks, so as long as it has not run, the
steps since it was queued held the loop. The check costs a clock read; a yield, one turn of
the loop. Call it before a step, never after one: a caller cancelled while it steps aside
then has done nothing of that step.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["TURN_BUDGET", "LoopTurns"]

TURN_BUDGET = 0.001
"""Seconds a run of steps may hold the event loop before it lets other tasks run."""


class LoopTurns:
    """Lets the event loop turn when a run of steps that never suspend has held it for
    ``budget`` seconds (see the module): ``await turns.share()`` before each step."""

    __slots__ = ("_budget", "_loop", "_since", "_waiting")

    def __init__(self, budget: float = TURN_BUDGET) -> None:
        self._budget = budget
        self._since = time.perf_counter()
        """When the loop was last seen turning, or when the present run of steps began."""
        self._waiting = False
        """Whether the callback queued to see the loop's next turn has not run yet."""
        self._loop: asyncio.AbstractEventLoop | None = None
        """The loop that callback was queued on."""

    async def share(self) -> None:
        """Let other tasks run first when the loop has not turned for ``budget`` seconds."""
        loop = asyncio.get_running_loop()
        now = time.perf_counter()
        if not self._waiting or loop is not self._loop:  # it turned since: a run begins
            self._since = now
            self._waiting = True
            self._loop = loop
            loop.call_soon(self._turned)
            return
        if now - self._since >= self._budget:
            await asyncio.sleep(0)  # the loop turns: ``_turned`` runs in it

    def _turned(self) -> None:
        self._since = time.perf_counter()
        self._waiting = False
