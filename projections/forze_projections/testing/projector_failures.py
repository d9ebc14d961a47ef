"""Projector contract: failure policies, interrupted batches and wiring errors."""

from __future__ import annotations

import pytest

from forze.contracts import (
    EventStore,
    ReadModelStores,
    RecordedEvent,
)
from forze.domain.errors import WiringError
from forze_projections.backend import ProjectionBackend
from forze_projections.errors import ProjectionFailed
from forze_projections.projection import Projection
from forze_projections.projector import Projector
from forze_projections.status import (
    FailurePolicy,
    ProjectionState,
)
from forze_projections.testing.projector_support import (
    HISTORY,
    MIRROR,
    POISONED,
    RETRY,
    TALLIES,
    Flaky,
    ProjectorFactory,
    Tally,
    append,
    at,
    documents,
    eventually,
    fold,
    numbered,
    poison,
    states,
    status_of,
    tallies,
)


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
        assert f"position {at(feed, 5)}" in str(caught.value)
        assert await backend.checkpoints.load("tallies@v1") == at(feed, 3)
        assert await documents(backend.serving()) == fold(feed[:3])
        assert await documents(backend.serving(), MIRROR) == fold(feed)
        failed, mirror = await status_of(projector, "tallies"), await status_of(projector, "mirror")
        assert failed.state is ProjectionState.FAILED
        assert failed.error is not None
        assert "Poison" in failed.error
        assert (mirror.checkpoint, mirror.lag_events, mirror.error) == (at(feed, 7), 0, None)
        assert projector.error("tallies") is caught.value
        (failure,) = await backend.failures("tallies")
        assert (failure.position, failure.event_type, failure.stream_id) == (
            at(feed, 5),
            "Poison",
            "tally-1",
        )
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
        (status,) = await projector.catch_up()
        assert await documents(backend.serving()) == fold(feed)
        assert (status.checkpoint, status.lag_events, status.error) == (at(feed, 7), 0, None)
        assert status.state is ProjectionState.STOPPED
        (failure,) = await backend.failures("tallies")
        assert (failure.position, failure.event_type) == (at(feed, 5), "Poison")

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
        assert caught.value.event.position == at(feed, 5)
        assert flaky.calls == {5: 4}
        assert await backend.checkpoints.load("tallies@v1") == at(feed, 3)
        assert await documents(backend.serving()) == fold(feed[:3])
        assert (await status_of(projector, "tallies")).state is ProjectionState.FAILED
        assert [f.position for f in await backend.failures("tallies")] == [at(feed, 5)]

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
