"""The event store an operation with a telemetry gets as ``ctx.events``: appends reported."""

from __future__ import annotations

from collections.abc import Sequence

from forze.contracts import (
    AppendResult,
    EventStore,
    ExpectedVersion,
    ExpectedVersionArg,
    NewEvent,
    Telemetry,
)
from forze.execution.views import EventStoreView

__all__ = ["ObservedEventStore"]


class ObservedEventStore(EventStoreView):
    """An ``EventStore`` view reporting each append of one operation to ``telemetry`` (the
    events' metadata is the caller's: ``ctx.event_metadata()`` gives the operation's)."""

    def __init__(
        self,
        store: EventStore,
        telemetry: Telemetry,
        correlation_id: str,
        causation_id: str | None,
    ) -> None:
        super().__init__(store)
        self._telemetry = telemetry
        self._ids = correlation_id, causation_id

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersionArg = ExpectedVersion.ANY,
    ) -> AppendResult:
        """See ``EventStore.append``."""
        with self._telemetry.append((stream_id,), len(events), *self._ids):
            return await super().append(stream_id, events, expected_version)

    async def append_many(
        self, appends: Sequence[tuple[str, Sequence[NewEvent], ExpectedVersionArg]]
    ) -> list[AppendResult]:
        """See ``EventStore.append_many``."""
        streams = [part[0] for part in appends]
        count = sum(len(part[1]) for part in appends)
        with self._telemetry.append(streams, count, *self._ids):
            return await super().append_many(appends)
