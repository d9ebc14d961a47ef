"""The projector contract over the in-memory event store and projection backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from forze.contracts import EventStore
from forze_eventstore import InMemoryEventStore
from forze_projections import InMemoryProjectionBackend, ProjectionBackend
from forze_projections.testing import ProjectorContract


class TestInMemoryProjectionBackend(ProjectorContract):
    @asynccontextmanager
    async def open_backend(self) -> AsyncIterator[tuple[EventStore, ProjectionBackend]]:
        yield InMemoryEventStore(poll_interval=0.02), InMemoryProjectionBackend()
