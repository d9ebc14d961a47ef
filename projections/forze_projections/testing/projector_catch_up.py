"""Projector contract: catching up, following live, versions and rebuilds."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from forze.contracts import (
    EventStore,
    Filter,
    Query,
)
from forze.domain.errors import InvalidInputError, NotFoundError
from forze_projections.backend import ProjectionBackend
from forze_projections.projector import Projector
from forze_projections.status import (
    ProjectionProgress,
    ProjectionState,
)
from forze_projections.testing.projector_support import (
    HISTORY,
    MIRROR,
    TALLIES,
    Pause,
    ProjectorFactory,
    Tally,
    append,
    at,
    documents,
    eventually,
    fold,
    numbered,
    states,
    status_of,
    tallies,
)


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
        (status,) = await projector.catch_up()
        assert await documents(backend.serving()) == fold(feed)
        assert (status.checkpoint, status.head, status.lag_events) == (at(feed, 8), at(feed, 8), 0)
        assert (status.version, status.live_version, status.error) == (1, 1, None)
        assert status.state is ProjectionState.STOPPED
        assert await backend.checkpoints.load("tallies@v1") == at(feed, 8)
        reports.clear()
        (again,) = await projector.catch_up()
        assert reports == []
        assert await documents(backend.serving()) == fold(feed)
        assert (again.checkpoint, again.lag_events) == (at(feed, 8), 0)

    async def test_a_batch_stops_at_its_byte_budget_and_catch_up_still_reaches_the_head(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        feed = await append(events, *HISTORY)
        reports: list[ProjectionProgress] = []
        projector = Projector(
            events, backend, [tallies()], batch_size=100, page_bytes=1, on_progress=reports.append
        )
        (status,) = await projector.catch_up()
        assert await documents(backend.serving()) == fold(feed)
        assert (status.checkpoint, status.lag_events) == (at(feed, 8), 0)
        handled = [report.handled for report in reports]
        assert handled == list(range(1, len(handled) + 1)), "one event per batch"
        assert len(handled) >= 3

    async def test_events_of_unhandled_types_still_advance_the_checkpoint(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        feed = await append(
            events, ("tally-1", "Added", 1), ("tally-1", "Noted", 0), ("x-1", "Noted", 0)
        )
        only_removed = tallies("removals", spec=MIRROR, types=("Removed",))
        projector = Projector(events, backend, [tallies(), only_removed], batch_size=2)
        statuses = await projector.catch_up()
        assert {(s.checkpoint, s.lag_events) for s in statuses} == {(at(feed, 3), 0)}
        assert await documents(backend.serving(), MIRROR) == []
        async with projector:
            await eventually(
                lambda: _all(projector, ProjectionState.LIVE), "every projection is live"
            )
            await append(events, ("tally-2", "Noted", 0), ("tally-2", "Added", 2))
            feed = await append(events, ("tally-3", "Noted", 0))

            async def caught_up() -> bool:
                return all(s.lag_events == 0 for s in await projector.status())

            await eventually(caught_up, "live projections skip unhandled events to the head")
        assert {s.checkpoint for s in await projector.status()} == {at(feed, 6)}

    async def test_a_read_model_reads_as_empty_before_its_projection_first_ran(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        feed = await append(events, *HISTORY)
        for stage in ("no projector yet", "a projector that has not run"):
            store = backend.serving()(TALLIES)
            assert await store.get("tally-1") is None, stage
            assert await store.get_many(["tally-1"]) == []
            assert list((await store.find(Query(limit=5))).items) == []
            assert await store.count([Filter("total", "ge", 0)]) == 0
            with pytest.raises(InvalidInputError):
                await store.find(Query((Filter("no_such_field", "eq", 1),)))
            with pytest.raises(NotFoundError, match="no live version"):
                await store.upsert(Tally(id="tally-1"))
            projector = Projector(events, backend, [tallies()])
        await projector.catch_up()
        assert await documents(backend.serving()) == fold(feed)

    async def test_catch_up_and_rebuild_work_after_the_projector_ran_and_stopped(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        await append(events, *HISTORY)
        projector = Projector(events, backend, [tallies()])
        async with projector:
            await eventually(lambda: _all(projector, ProjectionState.LIVE), "the run went live")
        feed = await append(events, ("tally-9", "Added", 4), ("tally-1", "Added", 1))
        assert await _lagging(projector), "the stopped projector has not seen the new events"
        (caught_up,) = await projector.catch_up()
        assert (caught_up.checkpoint, caught_up.lag_events) == (at(feed, len(feed)), 0)
        assert await documents(backend.serving()) == fold(feed)
        feed = await append(events, ("tally-9", "Removed", 1))
        rebuilt = await projector.rebuild("tallies")
        assert (rebuilt.checkpoint, rebuilt.lag_events, rebuilt.error) == (
            at(feed, len(feed)),
            0,
            None,
        )
        assert await documents(backend.serving()) == fold(feed)
        async with projector:  # and it runs again after all that
            feed = await append(events, ("tally-10", "Added", 2))
            await eventually(lambda: _caught_up(projector), "the second run follows the feed")
        assert await documents(backend.serving()) == fold(feed)

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
        assert await backend.checkpoints.load("tallies@v1") == at(feed, committed)
        assert await documents(backend.serving()) == fold(feed[:committed])
        await Projector(events, backend, [tallies()], batch_size=4).catch_up()
        resumed = await documents(backend.serving())
        async with self.open_backend() as (other_events, other_backend):
            await append(other_events, *numbered(10))
            await Projector(other_events, other_backend, [tallies()], batch_size=4).catch_up()
            assert resumed == await documents(other_backend.serving())
        assert resumed == fold(feed)


async def _lagging(projector: Projector) -> bool:
    return any(status.lag_events for status in await projector.status())


async def _caught_up(projector: Projector) -> bool:
    return not await _lagging(projector)


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
        assert (status.version, status.live_version, status.checkpoint) == (2, 1, at(feed, 4))
        assert status.lag_events == 4
        pause.release.set()
        (status,) = await asyncio.wait_for(building, 5)
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
        assert await backend.checkpoints.load("tallies@v2") == at(feed, 3)
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
        last = at(feed, 10)
        assert (status.checkpoint, status.lag_events, status.live_version) == (last, 0, 1)
        positions = [report.position for report in reports]
        assert positions == sorted(set(positions))
        assert (positions[0], positions[-1]) == (at(feed, 3), last)
        for report in reports:
            assert (report.name, report.version, report.head) == ("tallies", 1, last)
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
