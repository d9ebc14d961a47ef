"""A throwaway PostgreSQL database per test session, and a fresh schema per store.

Tests read ``FORZE_TEST_POSTGRES_DSN`` (an administrative DSN; default: the local server) and
create ``forze_test_<pid>_<random>`` from it, dropped when the session ends. ``make test``
starts the server first (``.ci/ensure-services.sh``); a missing server is an error, not a skip.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import asyncpg

from forze_postgres import PostgresDatabase, PostgresEventStore

ADMIN_DSN = os.environ.get(
    "FORZE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def with_database(dsn: str, name: str) -> str:
    """``dsn`` pointing at database ``name``."""
    base, _, query = dsn.partition("?")
    root = base.rsplit("/", 1)[0] if base.count("/") > 2 else base
    return f"{root}/{name}" + (f"?{query}" if query else "")


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(ADMIN_DSN)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def _admin_now(sql: str) -> None:
    """Run ``sql`` on the administrative database from synchronous code, on a thread of its
    own: the session's database may first be asked for from an async test, whose loop runs
    in this thread (``asyncio.run`` refuses to start inside it)."""
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, _admin(sql)).result(timeout=120)


def create_test_database() -> str:
    """Create a new, empty database; return its DSN."""
    name = f"forze_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _admin_now(f'CREATE DATABASE "{name}"')
    return with_database(ADMIN_DSN, name)


def drop_test_database(dsn: str) -> None:
    """Drop a database made by :func:`create_test_database`."""
    name = dsn.partition("?")[0].rsplit("/", 1)[1]
    _admin_now(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def fresh_schema(dsn: str, *, max_size: int = 10) -> AsyncIterator[PostgresDatabase]:
    """A pool on ``dsn`` whose forze tables live in a new schema, dropped afterwards."""
    schema = f"s_{uuid.uuid4().hex[:12]}"
    database = await PostgresDatabase.connect(dsn, schema=schema, max_size=max_size)
    body_failed = True
    try:
        yield database
        body_failed = False
    finally:
        await _close_within(database, CLOSE_WITHIN, fail=not body_failed)
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await connection.close()


@asynccontextmanager
async def fresh_store(dsn: str) -> AsyncIterator[tuple[PostgresDatabase, PostgresEventStore]]:
    """A migrated event store in a :func:`fresh_schema`, and its database."""
    async with fresh_schema(dsn) as db:
        store = PostgresEventStore(db)
        await store.migrate()
        try:
            yield db, store
        finally:
            await store.close()


CLOSE_WITHIN = 15.0
"""Seconds a test's pool may take to close: longer means a task still holds a connection."""


async def _close_within(database: PostgresDatabase, seconds: float, *, fail: bool) -> None:
    """Close ``database``; if a connection is still in use after ``seconds``, terminate the
    pool rather than wait forever for a task the test left behind, and (with ``fail``: the
    test itself passed) fail the test."""
    try:
        await asyncio.wait_for(database.close(), seconds)
    except TimeoutError:
        database.pool.terminate()
        if not fail:
            return
        raise AssertionError(
            f"a connection of schema {database.schema!r} was still in use {seconds} s after"
            " the test: a task left running holds it"
        ) from None
