"""Translating asyncpg errors into forze errors, in one place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from forze.domain.errors import EventStoreUnavailable, ForzeError, InvalidInputError
from forze_postgres._driver import asyncpg

__all__ = ["translated"]

_BAD_INPUT = (
    asyncpg.DataError,
    asyncpg.InvalidTextRepresentationError,
    asyncpg.UntranslatableCharacterError,
)


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Run a block, turning driver errors into ``InvalidInputError`` or ``EventStoreUnavailable``.

    forze errors raised inside pass through unchanged; so does cancellation.
    """
    try:
        yield
    except ForzeError:
        raise
    except _BAD_INPUT as error:
        raise InvalidInputError(f"{what}: {error}") from error
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as error:
        raise EventStoreUnavailable(f"{what}: {type(error).__name__}: {error}") from error
