"""PostgresEventStore passes the event-store contract against a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from forze.contracts import EventStore
from forze_eventstore.testing import EventStoreContract
from forze_postgres import PostgresEventStore
from tests.postgres_support import fresh_schema


class TestPostgresEventStore(EventStoreContract):
    @pytest.fixture(autouse=True)
    def _dsn(self, postgres_dsn: str) -> None:
        self.dsn = postgres_dsn

    @asynccontextmanager
    async def open_store(self) -> AsyncIterator[EventStore]:
        async with fresh_schema(self.dsn) as db:
            store = PostgresEventStore(db, poll_interval=0.05)
            await store.migrate()
            try:
                yield store
            finally:
                await store.close()
