"""Catch-up-then-live subscriptions over any event store.

A subscription reads history in pages from a position, then waits for a wake-up (an
in-process :class:`CommitSignal`, LISTEN/NOTIFY, change streams, ...) or for the polling
interval, and reads again. The wake-up is never the source of truth: every event is read from
the store, so a lost notification only costs latency. A read that fails with a transient
``EventStoreUnavailable`` (a lost connection, a restarting server) is tried again from the
same position after a back-off, so a live subscription outlives an outage and resumes where
it stopped; any other error ends it.

Cancelling the task that iterates a subscription always ends it, even when the cancellation
was lost on the way: on Python 3.11, ``asyncio.wait_for`` returns normally when its task is
cancelled just as the awaited work finishes (cpython#86296), and drivers call it on every
request (PyMongo sends each command through it). So the subscription looks at its task once
a round (:func:`raise_if_cancelled`) instead of trusting every ``await`` to raise.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Sequence

from forze.contracts import CutPage, EventStore, RecordedEvent
from forze.domain.errors import EventStoreUnavailable
from forze.execution import Backoff

__all__ = [
    "CommitSignal",
    "PageReader",
    "catch_up_then_live",
    "outage_delay",
    "raise_if_cancelled",
    "subscribe_to",
]

log = logging.getLogger("forze.subscriptions")

_OUTAGES = Backoff(0.05, 5.0)
"""Waits after a transient ``EventStoreUnavailable`` (see :func:`outage_delay`)."""


def outage_delay(failures: int) -> float:
    """Seconds to wait before trying again after ``failures`` transient failures in a row of
    the store (1 for the first): 0.05 s, doubled after each further one, up to 5 s.
    Subscriptions and following projectors share it."""
    return _OUTAGES.delay(failures)


def raise_if_cancelled() -> None:
    """Raise ``CancelledError`` when the running task was cancelled but the ``CancelledError``
    was swallowed on the way (see the module docstring): a loop that would otherwise run on
    forever calls this once a round. A task that suppresses a cancellation on purpose calls
    ``Task.uncancel()``, as asyncio asks, and is left alone."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


PageReader = Callable[[int, int], Awaitable[Sequence[RecordedEvent]]]
"""``read(after, limit)``: the next page of (filtered) events after a position; a
:class:`~forze.contracts.CutPage` when it stopped early at a byte budget."""


class CommitSignal:
    """Wakes subscribers of this process when new events are committed.

    Callers register a waiter *before* they read (``prepare``) so a commit that lands between
    the read and the wait still wakes them.
    """

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def prepare(self) -> asyncio.Future[None]:
        """A waiter that completes at the next :meth:`notify`."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        return waiter

    def discard(self, waiter: asyncio.Future[None]) -> None:
        """Forget a waiter that is no longer needed."""
        self._waiters.discard(waiter)
        waiter.cancel()

    def notify(self) -> None:
        """Wake every prepared waiter (safe to call from any thread)."""
        if not self._waiters:
            return  # the common case of an append with nobody waiting: nothing to allocate
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            loop = waiter.get_loop()
            if loop.is_closed():
                continue
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                _wake(waiter)
            else:
                loop.call_soon_threadsafe(_wake, waiter)

    async def wait(self, waiter: asyncio.Future[None], seconds: float) -> None:
        """Wait for ``waiter`` or ``seconds``, whichever comes first. (``asyncio.wait``, not
        ``wait_for``: it never swallows a cancellation that arrives as the waiter completes.)"""
        try:
            await asyncio.wait((waiter,), timeout=seconds)
        finally:
            self.discard(waiter)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def catch_up_then_live(
    read_page: PageReader,
    signal: CommitSignal,
    *,
    after: int,
    page_size: int = 500,
    poll_interval: float = 0.5,
) -> AsyncGenerator[RecordedEvent, None]:
    """Yield every event after ``after`` in order, then follow new ones; never ends (reads
    failing with ``EventStoreUnavailable`` are tried again, see the module docstring).

    A full page, or one cut at its byte budget, is followed by the next read at once."""
    position = after
    failures = 0
    while True:
        waiter = signal.prepare()
        try:
            page = await read_page(position, page_size)
        except EventStoreUnavailable as error:
            signal.discard(waiter)
            if not error.transient:
                raise
            failures += 1
            delay = outage_delay(failures)
            log.warning(
                "subscription read after position %d failed (%s); trying again in %.2f s",
                position,
                error,
                delay,
            )
            await asyncio.sleep(delay)
            continue
        raise_if_cancelled()  # the read may have swallowed a cancellation
        failures = 0
        more = len(page) >= page_size or isinstance(page, CutPage)
        for event in page:
            position = event.position
            yield event
        del page  # released before the next page is read: one page in memory at a time
        if more:
            signal.discard(waiter)
            continue
        await signal.wait(waiter, poll_interval)


def subscribe_to(
    store: EventStore,
    signal: CommitSignal,
    *,
    after: int,
    event_types: Collection[str] | None,
    categories: Collection[str] | None,
    page_size: int = 500,
    poll_interval: float = 0.5,
    page_bytes: int | None = None,
) -> AsyncGenerator[RecordedEvent, None]:
    """A catch-up-then-live subscription that pages through ``store.read_all``.

    With ``page_bytes`` each page stops once its events' JSON texts reach that many bytes
    (see ``EventLimits.page_bytes``), so a subscriber holds a bounded amount of events at once.
    """

    async def read_page(position: int, limit: int) -> Sequence[RecordedEvent]:
        return await store.read_all(
            after=position,
            limit=limit,
            event_types=event_types,
            categories=categories,
            max_bytes=page_bytes,
        )

    return catch_up_then_live(
        read_page, signal, after=after, page_size=page_size, poll_interval=poll_interval
    )
