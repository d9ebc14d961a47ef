"""A MongoDB wire-protocol server for the Mongo tests, and a fresh database per store.

Tests read ``FORZE_TEST_MONGO_URL`` (default: the local server ``make test`` starts, the
nx-27017 emulator on port 27017; see docs/mongo.md) and make a database
``forze_test_<random>`` per store, dropped afterwards. A missing server is an error, not a
skip. ``ON_EMULATOR`` tells a test it runs on the emulator: no test skips there (docs/mongo.md
says how the adapter avoids each gap); one assertion about listed index names holds only on
a real MongoDB.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import pymongo

from forze_mongo import MongoDatabase

MONGO_URL = os.environ.get(
    "FORZE_TEST_MONGO_URL", "mongodb://127.0.0.1:27017/?directConnection=true"
)

ON_EMULATOR = "FORZE_TEST_MONGO_URL" not in os.environ
"""Whether the suite runs against the nx-27017 emulator rather than a real MongoDB."""


@asynccontextmanager
async def fresh_database(*, seconds: float = 10.0) -> AsyncIterator[MongoDatabase]:
    """A new, empty database on the test server, dropped (and its client closed) after."""
    db = MongoDatabase.connect(
        MONGO_URL, database=f"forze_test_{uuid.uuid4().hex[:12]}", timeout=seconds
    )
    try:
        yield db
    finally:
        try:
            with pymongo.timeout(seconds):
                await db.client.drop_database(db.name)
        finally:
            await db.close()


def mongo_url(database: str) -> str:
    """The test server's URL (``MONGO_URL``) naming ``database``."""
    parts = urlsplit(MONGO_URL)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def drop_databases(names: Iterable[str], *, seconds: float = 10.0) -> None:
    """Drop the databases ``names`` from the test server."""
    db = MongoDatabase.connect(MONGO_URL, timeout=seconds)
    try:
        with pymongo.timeout(seconds):
            for name in names:
                await db.client.drop_database(name)
    finally:
        await db.close()
