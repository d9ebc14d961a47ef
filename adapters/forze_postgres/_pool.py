"""Opening the asyncpg pool of a ``PostgresDatabase``."""

from __future__ import annotations

from forze_postgres._driver import asyncpg
from forze_postgres._timeouts import Timeouts
from forze_postgres.errors import translated

__all__ = ["open_pool"]


async def open_pool(dsn: str, *, min_size: int, max_size: int, timeouts: Timeouts) -> asyncpg.Pool:
    """A pool to ``dsn`` with ``timeouts`` applied to its connections.

    forze's connections keep no session state (no ``SET``, no session advisory lock; the
    LISTEN connection unlistens before it goes back), so a connection returning to the pool
    is only rolled back if a transaction was left open, instead of asyncpg's default
    ``RESET ALL; UNLISTEN *; ...`` round trip on every release.
    """
    with translated(f"cannot connect to PostgreSQL at {_safe(dsn)}", "connect_timeout"):
        pool: asyncpg.Pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            reset=_keep_session,
            **timeouts.pool_options(),
        )
    return pool


async def _keep_session(_connection: object) -> None:
    """The pool's reset: nothing beyond asyncpg's own rollback of an abandoned transaction."""


def _safe(dsn: str) -> str:
    """The DSN without its password, for messages."""
    head, at, tail = dsn.rpartition("@")
    if not at:
        return dsn
    scheme, _, credentials = head.partition("://")
    user = credentials.partition(":")[0]
    return f"{scheme}://{user}@{tail}"
