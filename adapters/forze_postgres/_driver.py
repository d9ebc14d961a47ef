"""The asyncpg import, with a one-line hint when the extra is missing."""

from __future__ import annotations

try:
    import asyncpg
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError("forze_postgres needs asyncpg: pip install 'forze[postgres]'") from error

from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

__all__ = ["Connection", "asyncpg"]

Connection: TypeAlias = "PoolConnectionProxy[Any]"
"""A pooled asyncpg connection, as forze's stores receive it."""
