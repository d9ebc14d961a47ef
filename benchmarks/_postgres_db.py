"""The benchmarks' PostgreSQL server: ``FORZE_TEST_POSTGRES_DSN`` (an administrative DSN;
default ``postgresql://postgres@127.0.0.1:5432/postgres``) and a throwaway database on it."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

__all__ = ["ADMIN_DSN", "sql", "throwaway_database", "with_database"]

ADMIN_DSN = os.environ.get(
    "FORZE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def with_database(dsn: str, name: str) -> str:
    """``dsn`` pointing at database ``name``."""
    base, _, query = dsn.partition("?")
    root = base.rsplit("/", 1)[0] if base.count("/") > 2 else base
    return f"{root}/{name}" + (f"?{query}" if query else "")


def sql(dsn: str, statement: str) -> None:
    """Run ``statement`` on ``dsn`` (one connection, closed after)."""

    async def go() -> None:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(go())


@contextmanager
def throwaway_database(prefix: str) -> Iterator[str]:
    """The DSN of a new database ``{prefix}_<random>`` on ``ADMIN_DSN``'s server, dropped
    (with its connections) afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    sql(ADMIN_DSN, f'CREATE DATABASE "{name}"')
    try:
        yield with_database(ADMIN_DSN, name)
    finally:
        sql(ADMIN_DSN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
