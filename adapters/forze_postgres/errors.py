"""Translating asyncpg errors into forze errors, in one place."""

from __future__ import annotations

from types import TracebackType

from forze.domain.errors import EventStoreUnavailable, ForzeError, InvalidInputError
from forze_postgres._driver import asyncpg

__all__ = ["translated"]

_BAD_INPUT = (
    asyncpg.DataError,
    asyncpg.InvalidTextRepresentationError,
    asyncpg.UntranslatableCharacterError,
)
_UNAVAILABLE = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    # a connection the server is dropping, used before its closing was read
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)
_TRANSIENT = (
    asyncpg.PostgresConnectionError,  # 08: the connection failed
    asyncpg.OperatorInterventionError,  # 57: shutdown, restart, a cancelled statement
    asyncpg.InsufficientResourcesError,  # 53: too many connections, a full disk
    asyncpg.TransactionRollbackError,  # 40: a serialisation failure, a deadlock
    asyncpg.LockNotAvailableError,  # 55P03
    asyncpg.ReadOnlySQLTransactionError,  # 25006: a standby while a failover completes
)
"""Server errors that trying again later may cure; other server errors are not transient."""


def translated(what: str, timeout: str = "command_timeout") -> _Translated:
    """A block that turns driver errors into ``InvalidInputError`` or ``EventStoreUnavailable``
    (``with translated("read the feed"): ...``; ``what`` begins the message).

    A driver's ``TimeoutError`` becomes a transient ``EventStoreUnavailable`` naming
    ``timeout``, the ``PostgresDatabase.connect`` setting that bounded the wait. forze
    errors raised inside pass through unchanged; so does cancellation.
    """
    return _Translated(what, timeout)


class _Translated:
    """:func:`translated`'s block: a class, as it wraps every statement forze runs."""

    __slots__ = ("timeout", "what")

    def __init__(self, what: str, timeout: str) -> None:
        self.what = what
        self.timeout = timeout

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if error is None or isinstance(error, ForzeError):
            return
        if isinstance(error, TimeoutError):
            raise EventStoreUnavailable(
                f"{self.what}: PostgreSQL did not answer within the {self.timeout}"
                " (a network partition, or an overloaded server)",
                transient=True,
            ) from error
        if isinstance(error, _BAD_INPUT):
            raise InvalidInputError(f"{self.what}: {error}") from error
        if isinstance(error, _UNAVAILABLE):
            transient = not isinstance(error, asyncpg.PostgresError) or isinstance(
                error, _TRANSIENT
            )
            raise EventStoreUnavailable(
                f"{self.what}: {type(error).__name__}: {error}", transient=transient
            ) from error
