"""MongoEventStore passes the event-store contract against a real MongoDB wire-protocol
server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from forze.contracts import EventStore
from forze_eventstore import EventLimits
from forze_eventstore.adapter_kit import DEFAULT_LIMITS
from forze_eventstore.testing import EventStoreContract
from forze_mongo import MongoEventStore
from tests.mongo_support import fresh_database


class TestMongoEventStore(EventStoreContract):
    @asynccontextmanager
    async def open_store(self) -> AsyncIterator[EventStore]:
        async with self.open_limited_store(DEFAULT_LIMITS) as store:
            yield store

    @asynccontextmanager
    async def open_limited_store(self, limits: EventLimits) -> AsyncIterator[EventStore]:
        async with fresh_database() as db:
            store = MongoEventStore(db, poll_interval=0.05, limits=limits)
            await store.migrate()
            try:
                yield store
            finally:
                await store.close()
