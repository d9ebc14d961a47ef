"""Projector contract: typed handlers see the events upcast, as the aggregates do.

``SCORES`` declares one event class, ``Scored``, at schema version 2 (``points``); version 1
stored the points as text under ``score``, and its upcaster turns ``"7"`` into ``points=7``
(and fails on text that is not a number). ``scores()`` is a typed projection counting them
into the contract's ``Tally`` read model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from forze.contracts import EventStore, NewEvent, ReadModelStores, RecordedEvent
from forze.domain.aggregate import Aggregate
from forze.domain.errors import SerializationError
from forze.domain.spec import AggregateSpec, EventType, Upcaster
from forze.domain.values import DomainEvent
from forze_eventstore import EventCodec
from forze_projections.backend import ProjectionBackend
from forze_projections.errors import ProjectionFailed
from forze_projections.projection import Projection
from forze_projections.projector import Projector
from forze_projections.status import FailurePolicy, ProjectionState
from forze_projections.testing.projector_support import (
    TALLIES,
    ProjectorFactory,
    Tally,
    at,
    documents,
    status_of,
)
from forze_projections.typed import on


class Scored(DomainEvent):
    """Points scored (schema version 2; version 1 stored them as text under ``score``)."""

    points: int


class Scoreboard(Aggregate[Scored]):
    """The aggregate of ``SCORES`` (the contract only needs its spec)."""

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.points = 0

    def apply(self, event: Scored) -> None:
        """Add the points."""
        self.points += event.points


def lift_score(data: dict[str, Any]) -> dict[str, Any]:
    """Upcast ``Scored`` from version 1 (``{"score": "7"}``) to 2 (``{"points": 7}``)."""
    return {"points": int(data["score"])}


SCORES = AggregateSpec(
    "score",
    Scoreboard,
    (EventType("Scored", Scored, schema_version=2),),
    upcasters=(Upcaster("Scored", 1, lift_score),),
)
SCORE_CODEC = EventCodec.for_specs(SCORES)

ScoreItem = tuple[str, int | str]
"""``(stream_id, points)``: an int is stored at schema version 2, a str as version 1 text."""


def scored(points: int | str) -> NewEvent:
    """A ``Scored`` event as the code of its schema version stored it (see ``ScoreItem``)."""
    if isinstance(points, int):
        return SCORE_CODEC.encode(Scored(points=points))
    return NewEvent("Scored", {"score": points}, {"schema_version": 1})


async def append_scores(events: EventStore, *items: ScoreItem) -> list[RecordedEvent]:
    """Append one ``Scored`` event per item, then return the whole feed."""
    for stream_id, points in items:
        await events.append(stream_id, [scored(points)])
    return list(await events.read_all())


def scores(
    name: str = "scores", seen: list[tuple[Scored, RecordedEvent]] | None = None
) -> Projection:
    """A typed projection tallying ``Scored`` points per stream into ``TALLIES``.

    Each (event, envelope) its handler receives is appended to ``seen``.
    """

    async def count(event: Scored, envelope: RecordedEvent, stores: ReadModelStores) -> None:
        if seen is not None:
            seen.append((event, envelope))
        store = stores(TALLIES)
        current = await store.get(envelope.stream_id) or Tally(id=envelope.stream_id)
        await store.upsert(
            Tally(
                id=envelope.stream_id,
                count=current.count + 1,
                total=current.total + event.points,
                last_version=envelope.version,
            )
        )

    return Projection.typed(
        name, 1, specs=(SCORES,), handlers=(on(Scored, count),), read_models=(TALLIES,)
    )


def score_fold(feed: Sequence[RecordedEvent]) -> list[dict[str, Any]]:
    """The documents ``scores()`` must hold after ``feed`` (old events' text read as ints)."""
    found: dict[str, dict[str, Any]] = {}
    for event in feed:
        if event.event_type != "Scored":
            continue
        points = event.data.get("points", event.data.get("score"))
        tally = found.setdefault(event.stream_id, {"id": event.stream_id, "count": 0, "total": 0})
        tally["count"] += 1
        tally["total"] += int(points)
        tally["last_version"] = event.version
    return [found[key] for key in sorted(found)]


BAD_SCORE: list[ScoreItem] = [
    ("score-1", 4),
    ("score-2", "3"),
    ("score-1", "three"),
    ("score-2", 5),
]
"""Four events; the third is a version 1 event its upcaster fails on."""


class TypedCases(ProjectorFactory):
    """Typed handlers receive decoded, upcast events; a decoding failure is the event's."""

    async def test_a_typed_handler_receives_old_events_upcast_to_the_current_schema(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        await append_scores(events, ("score-1", "5"), ("score-2", 7), ("score-1", 2))
        await events.append("other-1", [NewEvent("Noted", {})])
        feed = await append_scores(events, ("score-2", "-4"))
        seen: list[tuple[Scored, RecordedEvent]] = []
        projector = Projector(events, backend, [scores(seen=seen)], batch_size=2)
        (status,) = await projector.catch_up()
        assert [event for event, _ in seen] == [Scored(points=p) for p in (5, 7, 2, -4)]
        handled = [e for e in feed if e.event_type == "Scored"]
        assert [envelope for _, envelope in seen] == handled
        assert await documents(backend.serving()) == score_fold(feed)
        assert (status.checkpoint, status.error) == (at(feed, len(feed)), None)

    async def test_an_upcaster_failure_stops_the_projection_with_a_serialization_error(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        feed = await append_scores(events, *BAD_SCORE)
        projector = Projector(events, backend, [scores()], batch_size=2)
        with pytest.raises(ProjectionFailed) as caught:
            await projector.catch_up()
        cause = caught.value.cause
        assert isinstance(cause, SerializationError)
        bad = feed[2]
        for where in (f"position {bad.position}", "stream 'score-1'", "version 2"):
            assert where in str(cause)
            assert where in str(caught.value)
        assert "schema version 1" in str(cause)
        assert await backend.checkpoints.load("scores@v1") == at(feed, 2)
        assert await documents(backend.serving()) == score_fold(feed[:2])
        status = await status_of(projector, "scores")
        assert status.state is ProjectionState.FAILED
        (failure,) = await backend.failures("scores")
        assert (failure.position, failure.stream_id) == (bad.position, "score-1")
        assert failure.error.startswith("SerializationError: ")

    async def test_skip_records_an_upcaster_failure_and_projects_the_other_events(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        feed = await append_scores(events, *BAD_SCORE)
        skip = FailurePolicy(on_error="skip")
        projector = Projector(events, backend, [scores()], batch_size=2, policy=skip)
        (status,) = await projector.catch_up()
        assert await documents(backend.serving()) == score_fold([*feed[:2], feed[3]])
        assert (status.checkpoint, status.error) == (at(feed, 4), None)
        (failure,) = await backend.failures("scores")
        assert (failure.position, failure.event_type) == (feed[2].position, "Scored")
        assert failure.error.startswith("SerializationError: ")
