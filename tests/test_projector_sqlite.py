"""The projector contract over the SQLite event store and projection backend (one file)."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from forze.contracts import EventStore
from forze_eventstore import SQLiteDatabase, SQLiteEventStore
from forze_projections import ProjectionBackend, SQLiteProjectionBackend
from forze_projections.testing import ProjectorContract


class TestSQLiteProjectionBackendInMemory(ProjectorContract):
    @asynccontextmanager
    async def open_backend(self) -> AsyncIterator[tuple[EventStore, ProjectionBackend]]:
        db = SQLiteDatabase(":memory:")
        try:
            yield SQLiteEventStore(db, poll_interval=0.02), SQLiteProjectionBackend(db)
        finally:
            db.close()


class TestSQLiteProjectionBackendOnAFile(ProjectorContract):
    @asynccontextmanager
    async def open_backend(self) -> AsyncIterator[tuple[EventStore, ProjectionBackend]]:
        with tempfile.TemporaryDirectory() as folder:
            db = SQLiteDatabase(Path(folder) / "projections.sqlite", synchronous="NORMAL")
            try:
                yield SQLiteEventStore(db, poll_interval=0.02), SQLiteProjectionBackend(db)
            finally:
                db.close()
