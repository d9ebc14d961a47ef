"""The projector contract: the suite every ``ProjectionBackend`` passes with ``Projector``.

Subclass ``ProjectorContract`` in a backend's tests and implement ``open_backend``, an async
context manager giving a fresh, empty event store and projection backend (they may share one
database; each call must give new, empty ones, as the kill test opens a second pair)::

    class TestMyBackend(ProjectorContract):
        @asynccontextmanager
        async def open_backend(self) -> AsyncIterator[tuple[EventStore, ProjectionBackend]]:
            async with my_database() as db:
                yield MyEventStore(db, poll_interval=0.02), MyProjectionBackend(db)

Use a short subscription poll interval: the live cases wait for the projector to notice new
events. The suite projects a small read model, ``Tally`` (``TALLIES``, ``MIRROR``), with
handlers that are not idempotent, and checks the documents against ``fold`` of the feed.

The cases are defined in the private ``forze_projections._projector_cases`` module (so that the
public-API rule for non-``testing`` modules does not apply to them); import them from here.
"""

from forze_projections._projector_cases import (
    HISTORY,
    MIRROR,
    TALLIES,
    Flaky,
    Pause,
    ProjectorContract,
    Tally,
    append,
    documents,
    fold,
    tallies,
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
