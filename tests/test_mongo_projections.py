"""MongoProjectionBackend passes the projector contract (catch-up, versions and cut-over,
failure policies, outages, typed handlers, leases) against a real MongoDB wire-protocol
server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from forze.contracts import EventStore
from forze_mongo import MongoEventStore, MongoProjectionBackend
from forze_projections.backend import ProjectionBackend
from forze_projections.testing import ProjectorContract
from tests.mongo_support import fresh_database


class TestMongoProjector(ProjectorContract):
    @asynccontextmanager
    async def open_backend(self) -> AsyncIterator[tuple[EventStore, ProjectionBackend]]:
        async with fresh_database() as db:
            store = MongoEventStore(db, poll_interval=0.02)
            await store.migrate()
            try:
                yield store, MongoProjectionBackend(db)
            finally:
                await store.close()
