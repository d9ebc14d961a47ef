"""The projector contract's read model, handlers and helpers.

The suite projects a small read model (``Tally``: per stream, how many ``Added``/``Removed``
events and their signed total) and compares the documents with a plain fold of the feed. The
handlers are deliberately not idempotent (``count += 1``), so an event applied twice shows.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from pydantic import BaseModel

from forze.contracts import (
    EventStore,
    NewEvent,
    Query,
    ReadModelSpec,
    ReadModelStores,
    RecordedEvent,
)
from forze_projections.backend import ProjectionBackend
from forze_projections.projection import Projection, ProjectionHandler
from forze_projections.projector import Projector
from forze_projections.status import (
    FailurePolicy,
    ProjectionState,
    ProjectionStatus,
)


class Tally(BaseModel):
    """Per stream: how many events were counted, their signed total and the last version."""

    id: str
    count: int = 0
    total: int = 0
    last_version: int = 0


TALLIES = ReadModelSpec(name="contract_tallies", model=Tally, indexes=("total",))
MIRROR = ReadModelSpec(name="contract_mirror", model=Tally)
SIGNS = {"Added": 1, "Removed": -1}
"""The event types a tally counts, with the sign of their ``amount``."""

Hook = Callable[[RecordedEvent], Awaitable[None]]
Item = tuple[str, str, int]
"""``(stream_id, event_type, amount)``: one event to append."""

HISTORY: list[Item] = [
    ("tally-1", "Added", 5),
    ("tally-2", "Added", 7),
    ("tally-1", "Removed", 2),
    ("tally-3", "Added", 1),
    ("tally-2", "Noted", 0),
    ("tally-1", "Added", 4),
    ("tally-3", "Removed", 3),
    ("tally-2", "Added", 6),
]
"""A feed mixing handled events with ``Noted`` events that no tally projection handles."""


def numbered(count: int) -> list[Item]:
    """``count`` ``Added`` events over three streams, amounts 1..count."""
    return [(f"tally-{n % 3}", "Added", n) for n in range(1, count + 1)]


def tally_handler(spec: ReadModelSpec[Tally], factor: int, hook: Hook | None) -> ProjectionHandler:
    """Counts an ``Added``/``Removed`` event into ``spec`` (after awaiting ``hook``)."""

    async def handle(event: RecordedEvent, stores: ReadModelStores) -> None:
        if hook is not None:
            await hook(event)
        store = stores(spec)
        current = await store.get(event.stream_id) or Tally(id=event.stream_id)
        amount = SIGNS[event.event_type] * factor * int(event.data["amount"])
        await store.upsert(
            Tally(
                id=event.stream_id,
                count=current.count + 1,
                total=current.total + amount,
                last_version=event.version,
            )
        )

    return handle


def tallies(
    name: str = "tallies",
    version: int = 1,
    *,
    spec: ReadModelSpec[Tally] = TALLIES,
    factor: int = 1,
    hook: Hook | None = None,
    types: Collection[str] = tuple(SIGNS),
    extra: Mapping[str, ProjectionHandler] | None = None,
) -> Projection:
    """A tally projection writing ``spec``; ``factor`` scales amounts (a "new" version)."""
    handler = tally_handler(spec, factor, hook)
    return Projection(name, version, dict.fromkeys(types, handler) | dict(extra or {}), (spec,))


def fold(
    events: Sequence[RecordedEvent], *, factor: int = 1, types: Collection[str] = tuple(SIGNS)
) -> list[dict[str, Any]]:
    """The documents a tally projection must hold after ``events``, computed in Python."""
    found: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.event_type in types:
            tally = found.setdefault(
                event.stream_id, {"id": event.stream_id, "count": 0, "total": 0}
            )
            tally["count"] += 1
            tally["total"] += SIGNS[event.event_type] * factor * event.data["amount"]
            tally["last_version"] = event.version
    return [found[key] for key in sorted(found)]


async def documents(
    stores: ReadModelStores, spec: ReadModelSpec[Tally] = TALLIES
) -> list[dict[str, Any]]:
    """Every document of ``spec`` in key order, as dicts, paging through ``find``."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = await stores(spec).find(Query(limit=4, cursor=cursor))
        found.extend(document.model_dump() for document in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return found


def at(feed: Sequence[RecordedEvent], n: int) -> int:
    """The position of the ``n``-th event of ``feed`` (1-based; 0 for ``n == 0``).

    Positions only increase (PostgreSQL's have gaps), so the suite never spells them out.
    """
    return 0 if n == 0 else feed[n - 1].position


async def append(events: EventStore, *items: Item) -> list[RecordedEvent]:
    """Append one event per item, then return the whole feed.

    Each event's data holds ``seq``, its 1-based rank in the feed, which ``Flaky`` keys on.
    """
    seq = len(await events.read_all())
    for stream_id, event_type, amount in items:
        seq += 1
        await events.append(stream_id, [NewEvent(event_type, {"amount": amount, "seq": seq})])
    return list(await events.read_all())


class Pause:
    """A hook that holds the handler at its ``at``-th call until ``release`` is set."""

    def __init__(self, at: int) -> None:
        self.at, self.calls = at, 0
        self.reached, self.release = asyncio.Event(), asyncio.Event()

    async def __call__(self, event: RecordedEvent) -> None:
        self.calls += 1
        if self.calls == self.at:
            self.reached.set()
            await self.release.wait()


class Flaky:
    """A hook that raises ``error`` the first ``times[n]`` times it meets the ``n``-th event
    of the feed."""

    def __init__(
        self, times: Mapping[int, int], *, error: Callable[[str], Exception] = RuntimeError
    ) -> None:
        self.times = dict(times)
        self.calls = dict.fromkeys(times, 0)
        self.error = error

    async def __call__(self, event: RecordedEvent) -> None:
        seq = event.data["seq"]
        if seq in self.times:
            self.calls[seq] += 1
            if self.calls[seq] <= self.times[seq]:
                raise self.error(f"flaky failure {self.calls[seq]}")


async def poison(event: RecordedEvent, stores: ReadModelStores) -> None:
    """A handler that writes two documents, then raises."""
    store = stores(TALLIES)
    await store.upsert(Tally(id="poisoned", count=1))
    current = await store.get(event.stream_id) or Tally(id=event.stream_id)
    await store.upsert(current.model_copy(update={"count": current.count + 100}))
    raise RuntimeError("poisoned")


POISONED: list[Item] = [*numbered(4), ("tally-1", "Poison", 0), *numbered(7)[5:]]
"""Seven events; the fifth is a ``Poison`` (with ``batch_size=3``: in the second batch)."""
RETRY = FailurePolicy(on_error="retry", retries=3, backoff=0.001, max_backoff=0.005)


async def status_of(projector: Projector, name: str) -> ProjectionStatus:
    """The status of projection ``name``."""
    (status,) = [s for s in await projector.status() if s.name == name]
    return status


async def eventually(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 5) -> None:
    """Poll ``check`` every 10 ms until it holds; fail after ``seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await check():
        if loop.time() > deadline:
            pytest.fail(f"not within {seconds} s: {what}")
        await asyncio.sleep(0.01)


async def states(projector: Projector) -> dict[str, ProjectionState]:
    """The state of every projection of ``projector``."""
    return {s.name: s.state for s in await projector.status()}


# -- the factory --------------------------------------------------------------------------------


class ProjectorFactory(ABC):
    """Declares how a contract gets a fresh event store and projection backend."""

    @abstractmethod
    def open_backend(self) -> AbstractAsyncContextManager[tuple[EventStore, ProjectionBackend]]:
        """A new, empty event store and projection backend (they may share one database)."""

    @pytest.fixture
    async def opened(self) -> AsyncIterator[tuple[EventStore, ProjectionBackend]]:
        """A fresh event store and backend for one test."""
        async with self.open_backend() as opened:
            yield opened

    @pytest.fixture
    def events(self, opened: tuple[EventStore, ProjectionBackend]) -> EventStore:
        """The event store of the test."""
        return opened[0]

    @pytest.fixture
    def backend(self, opened: tuple[EventStore, ProjectionBackend]) -> ProjectionBackend:
        """The projection backend of the test."""
        return opened[1]


# -- the cases ----------------------------------------------------------------------------------
