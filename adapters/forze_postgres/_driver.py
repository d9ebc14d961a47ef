"""The asyncpg import, with a one-line hint when the extra is missing, and what forze asks
of a pooled connection."""

from __future__ import annotations

try:
    import asyncpg
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError("forze_postgres needs asyncpg: pip install 'forze[postgres]'") from error

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

__all__ = ["Connection", "abandoned", "asyncpg", "drop", "is_open", "savepoint"]

Connection: TypeAlias = "PoolConnectionProxy[Any]"
"""A pooled asyncpg connection, as forze's stores receive it."""


def is_open(connection: Connection) -> bool:
    """Whether a pooled connection is still open (asyncpg detaches a closed one from its pool,
    and then even asking it raises)."""
    try:
        return not connection.is_closed()
    except asyncpg.InterfaceError:
        return False


def abandoned(error: BaseException | None) -> bool:
    """Whether a block that used a connection ended so that its state is unknown: the caller
    was cancelled (``asyncio.timeout`` included) or a statement timed out, maybe mid-answer.

    asyncpg would then send the server a cancel request and wait for it before the connection
    can be used or given back; when the server cannot be reached (a network partition), that
    wait lasts until the cancel request times out. The caller does not wait for it: such a
    connection is given back in the background (``Reuse.retire``).
    """
    if error is None:
        return False
    if isinstance(error, asyncio.CancelledError | TimeoutError | KeyboardInterrupt | SystemExit):
        return True
    return isinstance(error.__cause__, TimeoutError)


def drop(connection: Connection) -> None:
    """Close ``connection`` at once, without a word to the server; asyncpg gives its place
    in the pool back (a new connection is made when one is needed)."""
    with contextlib.suppress(Exception):
        connection.terminate()


@contextlib.asynccontextmanager
async def savepoint(connection: Connection) -> AsyncIterator[None]:
    """A SAVEPOINT in the transaction of ``connection`` for the block (released after it,
    rolled back to if it raises), like ``async with connection.transaction()``, except that
    a block :func:`abandoned` leaves the savepoint as it is: rolling back to it would first
    wait on the cancel request, so the error goes on at once, to the enclosing transaction,
    which is then rolled back as a whole (``PostgresDatabase.transaction``).
    """
    inner = connection.transaction()
    await inner.start()
    try:
        yield
    except BaseException as error:
        if not abandoned(error) and is_open(connection):
            await inner.rollback()
        raise
    await inner.commit()
