"""The asyncpg import, with a one-line hint when the extra is missing, and what forze asks
of a pooled connection."""

from __future__ import annotations

try:
    import asyncpg
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError("forze_postgres needs asyncpg: pip install 'forze[postgres]'") from error

from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

__all__ = ["Connection", "asyncpg", "is_open"]

Connection: TypeAlias = "PoolConnectionProxy[Any]"
"""A pooled asyncpg connection, as forze's stores receive it."""


def is_open(connection: Connection) -> bool:
    """Whether a pooled connection is still open (asyncpg detaches a closed one from its pool,
    and then even asking it raises)."""
    try:
        return not connection.is_closed()
    except asyncpg.InterfaceError:
        return False
