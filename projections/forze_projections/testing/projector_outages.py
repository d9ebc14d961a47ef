"""Projector contract: an unavailable store is nobody's fault and costs no event."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from forze.contracts import EventStore
from forze.domain.errors import EventStoreUnavailable, NotFoundError
from forze.execution import APPENDS, EventStoreView
from forze_projections.backend import ProjectionBackend
from forze_projections.projector import Projector
from forze_projections.status import FailurePolicy, ProjectionState
from forze_projections.testing.projector_support import (
    Flaky,
    ProjectorFactory,
    append,
    documents,
    eventually,
    fold,
    numbered,
    states,
    tallies,
)


class Outage(EventStoreView):
    """An event store whose reads fail with ``error`` (``EventStoreUnavailable``) while
    ``down``, as a store's do while its server restarts (appends go through)."""

    def __init__(
        self, store: EventStore, error: Callable[[str], Exception] = EventStoreUnavailable
    ) -> None:
        super().__init__(store)
        self.error = error
        self.down = False
        self.refused = 0
        """How many reads failed."""

    async def refused_once(self) -> None:
        """Wait (up to 2 s) until a read has been refused."""
        for _ in range(200):
            if self.refused:
                return
            await asyncio.sleep(0.01)
        pytest.fail("no read met the outage")

    async def before(self, operation: str) -> None:
        """Refuse reads while down."""
        if self.down and operation not in APPENDS:
            self.refused += 1
            raise self.error("the server is restarting")


async def _documents_if_live(backend: ProjectionBackend) -> list[dict[str, object]] | None:
    """The tallies' documents, or None before the projection has a live version."""
    try:
        return await documents(backend.serving())
    except NotFoundError:
        return None


async def _after_failing_reads(
    events: EventStore, backend: ProjectionBackend, error: Callable[[str], Exception]
) -> tuple[ProjectionState, Projector, Outage]:
    """A following projector whose reads of the feed fail with ``error`` until it has met
    one: its projection's state then, the projector and the store."""
    outage = Outage(events, error=error)
    await append(events, *numbered(2))
    outage.down = True
    projector = Projector(outage, backend, [tallies()])
    async with projector:
        await outage.refused_once()
        await asyncio.sleep(0.05)
        outage.down = False  # the status reads the store too
        state = (await states(projector))["tallies"]
    return state, projector, outage


class OutageCases(ProjectorFactory):
    """A store that cannot be reached rolls the batch back; a following projection resumes
    from its checkpoint once it can, and no failure policy ever skips an event for it."""

    async def test_a_following_projection_resumes_from_its_checkpoint_after_an_outage(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        outage = Outage(events)
        feed = await append(events, *numbered(3))

        async def projected() -> bool:
            return await _documents_if_live(backend) == fold(feed)

        async with Projector(outage, backend, [tallies()], batch_size=2) as projector:
            await eventually(projected, "the first events projected")
            outage.down = True
            feed = await append(events, *numbered(7)[3:])
            await outage.refused_once()
            await asyncio.sleep(0.1)
            outage.down = False
            await eventually(projected, "the events appended during the outage projected")

            async def live() -> bool:  # the documents commit a moment before it says so
                return (await states(projector))["tallies"] is ProjectionState.LIVE

            await eventually(live, "the projection live again")
            assert projector.error("tallies") is None
        assert await backend.failures("tallies") == []

    async def test_a_projections_status_shows_the_outage_it_retries_and_keeps_it_once_past(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        outage = Outage(events)
        feed = await append(events, *numbered(2))

        async def projected() -> bool:
            return await _documents_if_live(backend) == fold(feed)

        async with Projector(outage, backend, [tallies()]) as projector:
            await eventually(projected, "the first events projected")
            (before,) = await projector.status()
            outage.down = True
            feed = await append(events, *numbered(4)[2:])
            await outage.refused_once()
            await asyncio.sleep(0.1)  # it backs off and retries, refused again
            outage.down = False  # the status reads the store too
            (retrying,) = await projector.status()
            await eventually(projected, "the events appended during the outage projected")
            (resumed,) = await projector.status()
        assert (before.last_error, before.last_error_at) == (None, None)
        assert before.moved_at is not None
        assert retrying.error is None
        assert retrying.state is not ProjectionState.FAILED
        assert retrying.last_error == "EventStoreUnavailable: the server is restarting"
        assert retrying.last_error_at is not None
        assert retrying.last_error_at > before.moved_at  # current: after its last progress
        assert (resumed.error, resumed.last_error) == (None, retrying.last_error)
        assert resumed.last_error_at is not None
        assert resumed.moved_at is not None
        assert resumed.moved_at > resumed.last_error_at  # kept, older than the progress since

    async def test_a_handler_meeting_an_unavailable_store_is_not_skipped(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        feed = await append(events, *numbered(4))
        flaky = Flaky({2: 2}, error=EventStoreUnavailable)

        async def projected() -> bool:
            return await _documents_if_live(backend) == fold(feed)

        skipping = FailurePolicy(on_error="skip")
        async with Projector(events, backend, [tallies(hook=flaky)], policy=skipping):
            await eventually(projected, "every event projected, the second one too")
        assert flaky.calls[2] == 3
        assert await backend.failures("tallies") == []

    async def test_catching_up_while_the_store_is_unavailable_raises_and_moves_nothing(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        outage = Outage(events)
        feed = await append(events, *numbered(3))
        projector = Projector(outage, backend, [tallies()])
        outage.down = True
        with pytest.raises(EventStoreUnavailable):
            await projector.catch_up()
        assert await backend.checkpoints.load("tallies@v1") == 0
        outage.down = False
        assert (await states(projector))["tallies"] is ProjectionState.STOPPED
        await projector.catch_up()
        assert await documents(backend.serving()) == fold(feed)

    async def test_a_failure_no_policy_covers_stops_the_projection_visibly(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        state, projector, _ = await _after_failing_reads(events, backend, RuntimeError)
        assert state is ProjectionState.FAILED
        (status,) = await projector.status()
        assert status.error is not None
        assert "restarting" in status.error

    async def test_a_failure_the_store_would_repeat_stops_a_following_projection(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        def lasting(message: str) -> Exception:
            return EventStoreUnavailable(message, transient=False)

        state, _, outage = await _after_failing_reads(events, backend, lasting)
        assert state is ProjectionState.FAILED
        assert outage.refused == 1, "a failure the store would repeat is not tried again"

    async def test_a_handler_meeting_a_failure_the_store_would_repeat_follows_the_policy(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        feed = await append(events, *numbered(3))
        refused = Flaky({2: 99}, error=lambda m: EventStoreUnavailable(m, transient=False))
        projector = Projector(
            events, backend, [tallies(hook=refused)], policy=FailurePolicy(on_error="skip")
        )
        await projector.catch_up()
        assert await documents(backend.serving()) == fold([feed[0], feed[2]])
        (failure,) = await backend.failures("tallies")
        assert failure.position == feed[1].position
