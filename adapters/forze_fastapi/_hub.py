"""One subscription of the store feeding every live client of a process.

A thousand ``EventSource`` clients must not mean a thousand subscriptions each reading the
store. The hub keeps one: a pump task follows the feed and offers each event to every
client's bounded queue. A client that joins catches up from the store itself (from its
``Last-Event-ID``), registers its queue (starting the subscription again if the last client
left meanwhile), catches up once more, and then drains the queue, skipping what it already
sent: positions are a gap-safe global order, so the two together hold every
event once. A client whose queue is full (it reads slower than events arrive) is cut off at
once, not buffered without bound: its ``EventSource`` reconnects with the last id it got and
catches up from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Collection
from dataclasses import dataclass, field

from forze.contracts import EventStore, RecordedEvent, category_of
from forze_fastapi._json import event_line

__all__ = ["FeedHub", "Overflowed", "Rendered"]

log = logging.getLogger("forze.http")


class Overflowed(Exception):
    """The client fell too far behind the live feed and was cut off."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """An event's position and its Server-Sent Event text, rendered once for every client."""

    position: int
    line: str

    @classmethod
    def of(cls, event: RecordedEvent) -> Rendered:
        """``event`` rendered (see ``forze_fastapi._json.event_line``)."""
        return cls(event.position, event_line(event))


@dataclass(eq=False)
class _Client:
    types: frozenset[str] | None
    categories: frozenset[str] | None
    queue: asyncio.Queue[Rendered | None]
    overflowed: bool = field(default=False)

    def wants(self, event: RecordedEvent) -> bool:
        if self.types is not None and event.event_type not in self.types:
            return False
        return self.categories is None or category_of(event.stream_id) in self.categories

    def offer(self, event: RecordedEvent, rendered: Rendered) -> None:
        if self.overflowed or not self.wants(event):
            return
        try:
            self.queue.put_nowait(rendered)
        except asyncio.QueueFull:
            self.cut()

    def cut(self) -> None:
        """End this client's stream at its next read (it reconnects and catches up)."""
        if self.overflowed:
            return
        self.overflowed = True
        while not self.queue.empty():  # nothing after a gap may be sent: the client
            self.queue.get_nowait()  # resumes from the last event it got
        self.queue.put_nowait(None)


class FeedHub:
    """The live feed of one event store, shared by the clients of this process."""

    def __init__(self, store: EventStore, *, buffer: int = 256, page: int = 500) -> None:
        self._store = store
        self._buffer = buffer
        self._page = page
        self._clients: set[_Client] = set()
        self._pump: asyncio.Task[None] | None = None
        self._started = asyncio.Lock()

    @property
    def clients(self) -> int:
        """How many clients follow the feed now."""
        return len(self._clients)

    async def follow(
        self,
        after: int,
        event_types: Collection[str] | None,
        categories: Collection[str] | None,
    ) -> AsyncGenerator[Rendered, None]:
        """Every event after ``after`` (of those types and categories), then live ones, as
        rendered text; raises :class:`Overflowed` when the client falls ``buffer`` events
        behind."""
        await self._start()
        position = after
        async for event in self._caught_up(position, event_types, categories):
            position = event.position
            yield Rendered.of(event)
        client = _Client(
            None if event_types is None else frozenset(event_types),
            None if categories is None else frozenset(categories),
            asyncio.Queue(maxsize=self._buffer),
        )
        self._clients.add(client)
        try:
            # The last client may have left during the catch-up and stopped the subscription
            # started above: a registered client keeps it running, so start it (again) now.
            # From here on every event committed after its head reaches the queue.
            await self._start()
            # what was committed between the catch-up's last page and the registration
            async for event in self._caught_up(position, event_types, categories):
                position = event.position
                yield Rendered.of(event)
            while True:
                live = await client.queue.get()
                if live is None:
                    raise Overflowed(f"the client fell {self._buffer} events behind")
                if live.position > position:  # the catch-up may have sent it already
                    position = live.position
                    yield live
        finally:
            self._clients.discard(client)
            if not self._clients:
                await self.close()  # nobody follows: no task outlives the last client

    async def _caught_up(
        self,
        after: int,
        event_types: Collection[str] | None,
        categories: Collection[str] | None,
    ) -> AsyncIterator[RecordedEvent]:
        """The stored events after ``after``, page by page, up to the head."""
        position = after
        while True:
            page = await self._store.read_all(
                after=position, limit=self._page, event_types=event_types, categories=categories
            )
            for event in page:
                position = event.position
                yield event
            if len(page) < self._page:
                return

    async def _start(self) -> None:
        async with self._started:
            if self._pump is None or self._pump.done():
                head = await self._store.head_position()
                self._pump = asyncio.create_task(self._run(head), name="forze feed hub")

    async def _run(self, head: int) -> None:
        try:
            async for event in self._store.subscribe(after=head):
                rendered = Rendered.of(event)  # once, whatever the number of clients
                for client in list(self._clients):
                    client.offer(event, rendered)
        except Exception:  # the subscription gave up: cut everyone, the next one restarts
            log.exception("the live feed stopped")
            for client in list(self._clients):
                client.cut()

    async def close(self) -> None:
        """Stop following the feed (the next client starts again from the head)."""
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
