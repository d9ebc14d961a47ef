"""The whole projector contract, and its property test."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forze_projections.projector import Projector
from forze_projections.testing.projector_catch_up import CatchUpCases, VersionCases
from forze_projections.testing.projector_failures import FailureCases
from forze_projections.testing.projector_leases import LeaseCases
from forze_projections.testing.projector_outages import OutageCases
from forze_projections.testing.projector_support import (
    MIRROR,
    Item,
    ProjectorFactory,
    append,
    at,
    documents,
    fold,
    tallies,
)
from forze_projections.testing.projector_typed import TypedCases

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
        max_examples=25,
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
                    assert {s.checkpoint for s in statuses} == {at(feed, len(feed))}

        asyncio.run(scenario())


class ProjectorContract(
    CatchUpCases, VersionCases, FailureCases, OutageCases, TypedCases, LeaseCases, PropertyCases
):
    """Every guarantee of ``Projector`` over a ``ProjectionBackend`` (ARCHITECTURE.md 5).

    Subclass in a backend's tests and implement ``open_backend``: checkpointed batches that
    commit atomically with their writes (a kill mid-batch loses nothing and doubles nothing),
    live following, lag, versioned rebuilds with cut-over, reset, the three failure policies,
    outages of the store (nobody's fault: resumed, never skipped), read-model ownership, and
    typed handlers that see old events upcast (a failing upcaster is the event's failure),
    and leases: one runner per projection, standbys, rebuilds carried out by the runner.
    """
