"""The projector contract's cases; import them from ``forze_projections.projector_testing``.

The suite projects a small read model (``Tally``: per stream, how many ``Added``/``Removed``
events and their signed total) and compares the documents with a plain fold of the feed. The
handlers are deliberately not idempotent (``count += 1``), so an event applied twice shows.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from forze.contracts import (
    EventStore,
    NewEvent,
    Query,
    ReadModelSpec,
    ReadModelStores,
    RecordedEvent,
)
from forze.domain.errors import WiringError
from forze_projections.backend import ProjectionBackend
from forze_projections.errors import ProjectionFailed
from forze_projections.projection import Projection, ProjectionHandler
from forze_projections.projector import Projector
from forze_projections.status import (
    FailurePolicy,
    ProjectionProgress,
    ProjectionState,
    ProjectionStatus,
)

__all__ = [
    "HISTORY",
    "MIRROR",
    "TALLIES",
    "Flaky",
    "Pause",
    "ProjectorContract",
    "Tally",
    "append",
    "documents",
    "fold",
    "tallies",
]

# -- the read model, its projections and the reference fold ----------------------------------


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


async def append(events: EventStore, *items: Item) -> list[RecordedEvent]:
    """Append one event per item, then return the whole feed."""
    for stream_id, event_type, amount in items:
        await events.append(stream_id, [NewEvent(event_type, {"amount": amount})])
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
    """A hook that raises the first ``times[p]`` times it meets the event at position ``p``."""

    def __init__(self, times: Mapping[int, int]) -> None:
        self.times = dict(times)
        self.calls = dict.fromkeys(times, 0)

    async def __call__(self, event: RecordedEvent) -> None:
        if event.position in self.times:
            self.calls[event.position] += 1
            if self.calls[event.position] <= self.times[event.position]:
                raise RuntimeError(f"flaky failure {self.calls[event.position]}")


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


class CatchUpCases(ProjectorFactory):
    """Catch-up, live following, graceful stop and resuming after a kill."""

    async def test_catch_up_projects_every_event_and_checkpoints_the_head(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        feed = await append(events, *HISTORY)
        reports: list[ProjectionProgress] = []
        projector = Projector(
            events, backend, [tallies()], batch_size=3, on_progress=reports.append
        )
        status = (await projector.catch_up())["tallies"]
        assert await documents(backend.serving()) == fold(feed)
        assert (status.checkpoint, status.head, status.lag_events) == (8, 8, 0)
        assert (status.version, status.live_version, status.error) == (1, 1, None)
        assert status.state is ProjectionState.STOPPED
        assert await backend.checkpoints.load("tallies@v1") == 8
        reports.clear()
        again = (await projector.catch_up())["tallies"]
        assert reports == []
        assert await documents(backend.serving()) == fold(feed)
        assert (again.checkpoint, again.lag_events) == (8, 0)

    async def test_events_of_unhandled_types_still_advance_the_checkpoint(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        await append(events, ("tally-1", "Added", 1), ("tally-1", "Noted", 0), ("x-1", "Noted", 0))
        only_removed = tallies("removals", spec=MIRROR, types=("Removed",))
        projector = Projector(events, backend, [tallies(), only_removed], batch_size=2)
        statuses = await projector.catch_up()
        assert {(s.checkpoint, s.lag_events) for s in statuses.values()} == {(3, 0)}
        assert await documents(backend.serving(), MIRROR) == []
        async with projector:
            await eventually(
                lambda: _all(projector, ProjectionState.LIVE), "every projection is live"
            )
            await append(events, ("tally-2", "Noted", 0), ("tally-2", "Added", 2))
            await append(events, ("tally-3", "Noted", 0))

            async def caught_up() -> bool:
                return all(s.lag_events == 0 for s in await projector.status())

            await eventually(caught_up, "live projections skip unhandled events to the head")
        assert {s.checkpoint for s in await projector.status()} == {6}

    async def test_run_follows_new_events_live(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        feed = await append(events, *HISTORY)
        pause = Pause(at=8)  # the history has 7 handled events: pause on the first live one
        projector = Projector(events, backend, [tallies(hook=pause)])
        async with projector:
            await eventually(lambda: _all(projector, ProjectionState.LIVE), "the projector is live")
            assert await documents(backend.serving()) == fold(feed)
            feed = await append(events, ("tally-4", "Added", 9), ("tally-1", "Removed", 1))
            await asyncio.wait_for(pause.reached.wait(), 5)
            assert (await status_of(projector, "tallies")).lag_events == 2
            pause.release.set()

            async def reflected() -> bool:
                status = await status_of(projector, "tallies")
                return status.lag_events == 0 and await documents(backend.serving()) == fold(feed)

            await eventually(reflected, "the new events are projected")
            assert (await status_of(projector, "tallies")).state is ProjectionState.LIVE
        assert (await status_of(projector, "tallies")).state is ProjectionState.STOPPED

    async def test_stop_ends_live_following_promptly(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        await append(events, *HISTORY)
        projector = Projector(events, backend, [tallies(), tallies("mirror", spec=MIRROR)])
        running = asyncio.ensure_future(projector.run())
        await eventually(lambda: _all(projector, ProjectionState.LIVE), "the projector is live")
        projector.stop()
        await asyncio.wait_for(running, 2)
        assert set((await states(projector)).values()) == {ProjectionState.STOPPED}

    @pytest.mark.parametrize("kill_at", [1, 6, 8])
    async def test_a_projector_killed_mid_batch_resumes_as_if_never_interrupted(
        self, events: EventStore, backend: ProjectionBackend, kill_at: int
    ) -> None:
        feed = await append(events, *numbered(10))
        pause = Pause(at=kill_at)
        killed = asyncio.ensure_future(
            Projector(events, backend, [tallies(hook=pause)], batch_size=4).catch_up()
        )
        await asyncio.wait_for(pause.reached.wait(), 5)
        killed.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await killed
        committed = (kill_at - 1) // 4 * 4  # the batches before the one in flight
        assert await backend.checkpoints.load("tallies@v1") == committed
        assert await documents(backend.serving()) == fold(feed[:committed])
        await Projector(events, backend, [tallies()], batch_size=4).catch_up()
        resumed = await documents(backend.serving())
        async with self.open_backend() as (other_events, other_backend):
            await append(other_events, *numbered(10))
            await Projector(other_events, other_backend, [tallies()], batch_size=4).catch_up()
            assert resumed == await documents(other_backend.serving())
        assert resumed == fold(feed)


async def _all(projector: Projector, state: ProjectionState) -> bool:
    return set((await states(projector)).values()) == {state}


class VersionCases(ProjectorFactory):
    """New versions build beside the live one; reset and rebuild start from position 0."""

    async def test_a_new_version_builds_while_the_old_one_serves_then_takes_over(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        feed = await append(events, *numbered(8))
        await Projector(events, backend, [tallies()]).catch_up()
        assert await backend.live_version("tallies") == 1
        pause = Pause(at=5)
        projector = Projector(
            events, backend, [tallies(version=2, factor=10, hook=pause)], batch_size=2
        )
        building = asyncio.ensure_future(projector.catch_up())
        await asyncio.wait_for(pause.reached.wait(), 5)
        assert await documents(backend.serving()) == fold(feed)
        assert await documents(backend.writer("tallies", 2)) == fold(feed[:4], factor=10)
        status = await status_of(projector, "tallies")
        assert (status.version, status.live_version, status.checkpoint) == (2, 1, 4)
        assert status.lag_events == 4
        pause.release.set()
        status = (await asyncio.wait_for(building, 5))["tallies"]
        assert await documents(backend.serving()) == fold(feed, factor=10)
        assert (status.version, status.live_version, status.lag_events) == (2, 2, 0)
        assert await backend.live_version("tallies") == 2

    async def test_an_interrupted_new_version_resumes_and_still_takes_over(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        feed = await append(events, *numbered(8))
        await Projector(events, backend, [tallies()]).catch_up()
        pause = Pause(at=6)
        v2 = tallies(version=2, factor=10, hook=pause)
        killed = asyncio.ensure_future(Projector(events, backend, [v2], batch_size=3).catch_up())
        await asyncio.wait_for(pause.reached.wait(), 5)
        killed.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await killed
        assert await backend.live_version("tallies") == 1
        assert await backend.checkpoints.load("tallies@v2") == 3
        assert await documents(backend.serving()) == fold(feed)
        v2 = tallies(version=2, factor=10)
        await Projector(events, backend, [v2], batch_size=3).catch_up()
        assert await backend.live_version("tallies") == 2
        assert await documents(backend.serving()) == fold(feed, factor=10)

    async def test_rebuild_resets_and_rebuilds_reporting_progress(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        feed = await append(events, *numbered(10))
        reports: list[ProjectionProgress] = []
        projector = Projector(
            events, backend, [tallies()], batch_size=3, on_progress=reports.append
        )
        await projector.catch_up()
        reports.clear()
        status = await projector.rebuild("tallies")
        assert await documents(backend.serving()) == fold(feed)
        assert (status.checkpoint, status.lag_events, status.live_version) == (10, 0, 1)
        positions = [report.position for report in reports]
        assert positions == sorted(set(positions))
        assert (positions[0], positions[-1]) == (3, 10)
        for report in reports:
            assert (report.name, report.version, report.head) == ("tallies", 1, 10)
            assert report.events_per_second > 0
            assert report.eta_seconds >= 0
        assert reports[-1].eta_seconds == 0

    async def test_reset_forgets_checkpoint_and_documents_and_catch_up_rebuilds_them(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        feed = await append(events, *HISTORY)
        projector = Projector(events, backend, [tallies()], batch_size=3)
        await projector.catch_up()
        await projector.reset("tallies")
        assert await backend.checkpoints.load("tallies@v1") == 0
        assert await documents(backend.writer("tallies", 1)) == []
        assert await documents(backend.serving()) == []
        assert (await status_of(projector, "tallies")).lag_events == len(feed)
        await projector.catch_up()
        assert await documents(backend.serving()) == fold(feed)


class FailureCases(ProjectorFactory):
    """Failure policies (stop, skip, retry) and read-model wiring errors."""

    async def test_stop_rolls_back_the_failing_batch_and_stops_that_projection_alone(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        feed = await append(events, *POISONED)
        failing = tallies(extra={"Poison": poison})
        projector = Projector(
            events, backend, [failing, tallies("mirror", spec=MIRROR)], batch_size=3
        )
        with pytest.raises(ProjectionFailed) as caught:
            await projector.catch_up()
        assert "'Poison'" in str(caught.value)
        assert "position 5" in str(caught.value)
        assert await backend.checkpoints.load("tallies@v1") == 3
        assert await documents(backend.serving()) == fold(feed[:3])
        assert await documents(backend.serving(), MIRROR) == fold(feed)
        failed, mirror = await status_of(projector, "tallies"), await status_of(projector, "mirror")
        assert failed.state is ProjectionState.FAILED
        assert failed.error is not None
        assert "Poison" in failed.error
        assert (mirror.checkpoint, mirror.lag_events, mirror.error) == (7, 0, None)
        assert projector.error("tallies") is caught.value
        (failure,) = await backend.failures("tallies")
        assert (failure.position, failure.event_type, failure.stream_id) == (5, "Poison", "tally-1")
        assert "poisoned" in failure.error
        assert await backend.failures("mirror") == []

    async def test_a_stopped_projection_does_not_hold_up_the_others_following_live(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        await append(events, *POISONED)
        failing = tallies(extra={"Poison": poison})
        projector = Projector(events, backend, [failing, tallies("mirror", spec=MIRROR)])
        expected = {"tallies": ProjectionState.FAILED, "mirror": ProjectionState.LIVE}
        async with projector:

            async def settled() -> bool:
                return await states(projector) == expected

            await eventually(settled, "tallies failed and mirror is live")
            feed = await append(events, ("tally-5", "Added", 8))

            async def mirrored() -> bool:
                return await documents(backend.serving(), MIRROR) == fold(feed)

            await eventually(mirrored, "mirror projects the new event")
        assert await documents(backend.serving()) == []

    async def test_skip_undoes_the_failing_events_writes_and_keeps_the_rest_of_the_batch(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        feed = await append(events, *POISONED)
        skip = FailurePolicy(on_error="skip")
        failing = tallies(extra={"Poison": poison})
        projector = Projector(events, backend, [failing], batch_size=3, policy=skip)
        status = (await projector.catch_up())["tallies"]
        assert await documents(backend.serving()) == fold(feed)
        assert (status.checkpoint, status.lag_events, status.error) == (7, 0, None)
        assert status.state is ProjectionState.STOPPED
        (failure,) = await backend.failures("tallies")
        assert (failure.position, failure.event_type) == (5, "Poison")

    async def test_retry_rolls_back_and_retries_the_batch_until_it_succeeds(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        feed = await append(events, *numbered(7))
        flaky = Flaky({5: 2})
        projector = Projector(events, backend, [tallies(hook=flaky)], batch_size=3, policy=RETRY)
        await projector.catch_up()
        assert flaky.calls == {5: 3}
        assert await documents(backend.serving()) == fold(feed)
        assert await backend.failures("tallies") == []

    async def test_retries_are_counted_per_failing_batch_not_per_run(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        feed = await append(events, *numbered(7))
        flaky = Flaky({2: 3, 5: 3})
        projector = Projector(events, backend, [tallies(hook=flaky)], batch_size=3, policy=RETRY)
        await projector.catch_up()
        assert flaky.calls == {2: 4, 5: 4}
        assert await documents(backend.serving()) == fold(feed)

    async def test_retry_stops_the_projection_once_its_retries_are_exhausted(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        feed = await append(events, *numbered(7))
        flaky = Flaky({5: 4})
        projector = Projector(events, backend, [tallies(hook=flaky)], batch_size=3, policy=RETRY)
        with pytest.raises(ProjectionFailed) as caught:
            await projector.catch_up()
        assert caught.value.event.position == 5
        assert flaky.calls == {5: 4}
        assert await backend.checkpoints.load("tallies@v1") == 3
        assert await documents(backend.serving()) == fold(feed[:3])
        assert (await status_of(projector, "tallies")).state is ProjectionState.FAILED
        assert [f.position for f in await backend.failures("tallies")] == [5]

    async def test_writing_an_undeclared_read_model_fails_with_a_wiring_error(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        async def sneaky(event: RecordedEvent, stores: ReadModelStores) -> None:
            await stores(MIRROR).upsert(Tally(id=event.stream_id))

        await append(events, *HISTORY)
        projector = Projector(events, backend, [Projection("t", 1, {"Added": sneaky}, (TALLIES,))])
        with pytest.raises(ProjectionFailed, match="contract_mirror") as caught:
            await projector.catch_up()
        assert isinstance(caught.value.cause, WiringError)
        assert (await status_of(projector, "t")).state is ProjectionState.FAILED

    async def test_two_projections_declaring_one_read_model_are_refused(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        with pytest.raises(WiringError, match="contract_tallies"):
            Projector(events, backend, [tallies("first"), tallies("second")])


_ITEMS = st.lists(
    st.lists(
        st.tuples(
            st.sampled_from(["tally-1", "tally-2", "other-1"]),
            st.sampled_from(["Added", "Removed", "Noted"]),
            st.integers(-20, 20),
        ),
        max_size=8,
    ),
    min_size=1,
    max_size=4,
)


class PropertyCases(ProjectorFactory):
    """Catch-up equals a plain fold of the feed, whatever the events and batch size."""

    # Each backend's test class runs this inherited method (with its own executor), and every
    # example opens a fresh backend, which may be slow: both health checks would misfire.
    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.differing_executors, HealthCheck.too_slow],
    )
    @given(chunks=_ITEMS, batch_size=st.integers(1, 7))
    def test_catch_up_in_any_batch_size_equals_a_fold_of_the_feed(
        self, chunks: list[list[Item]], batch_size: int
    ) -> None:
        async def scenario() -> None:
            async with self.open_backend() as (events, backend):
                removals = tallies("removals", spec=MIRROR, types=("Removed",))
                projections = [tallies(), removals]
                projector = Projector(events, backend, projections, batch_size=batch_size)
                for chunk in chunks:
                    feed = await append(events, *chunk)
                    statuses = await projector.catch_up()
                    assert await documents(backend.serving()) == fold(feed)
                    removed = fold(feed, types=("Removed",))
                    assert await documents(backend.serving(), MIRROR) == removed
                    assert {s.checkpoint for s in statuses.values()} == {len(feed)}

        asyncio.run(scenario())


class ProjectorContract(CatchUpCases, VersionCases, FailureCases, PropertyCases):
    """Every guarantee of ``Projector`` over a ``ProjectionBackend`` (ARCHITECTURE.md 5).

    Subclass in a backend's tests and implement ``open_backend``: checkpointed batches that
    commit atomically with their writes (a kill mid-batch loses nothing and doubles nothing),
    live following, lag, versioned rebuilds with cut-over, reset, the three failure policies
    and read-model ownership.
    """
