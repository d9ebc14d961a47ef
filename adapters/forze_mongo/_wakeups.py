"""How subscribers of a MongoDB event store learn that something was committed.

In this process, at once (the appender notifies the signal). In other processes, through a
change stream on the head document's collection: every finished append updates the head,
and each change wakes the subscribers, who then read the feed by position. The change
stream is only a wake-up: no resume token is kept, a stream that fails or is invalidated is
opened anew after a pause, and subscribers also poll every ``poll_interval`` seconds, so a
lost change stream (or a server without them: a standalone MongoDB) costs latency, never
events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from forze_eventstore.adapter_kit import CommitSignal, outage_delay, raise_if_cancelled
from forze_mongo.database import Document

__all__ = ["Wakeups"]

log = logging.getLogger("forze.mongo")


class Wakeups:
    """The commit signal of one event store and the change stream that feeds it."""

    def __init__(self, heads: AsyncCollection[Document], *, poll_interval: float) -> None:
        self._heads = heads
        self.signal = CommitSignal()
        """What this process's subscribers wait on."""
        self.poll_interval = poll_interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Watch the head from now on (once per store)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        failures = 0
        while True:
            try:
                async with await self._heads.watch(max_await_time_ms=1000) as changes:
                    failures = 0
                    while changes.alive:
                        # one getMore, back within about a second with or without a change
                        change = await changes.try_next()
                        raise_if_cancelled()  # ``close`` waits for this task to end
                        if change is not None:
                            self.signal.notify()
                await asyncio.sleep(self.poll_interval)  # invalidated: open a new one
            except PyMongoError as error:
                failures += 1
                delay = max(self.poll_interval, outage_delay(failures))
                log.info("the head's change stream stopped (%s); polling meanwhile", error)
                await asyncio.sleep(delay)

    async def close(self) -> None:
        """Stop watching."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
