"""Translating PyMongo errors into forze errors, in one place."""

from __future__ import annotations

from types import TracebackType

from bson.errors import InvalidDocument
from pymongo import errors

from forze.domain.errors import EventStoreUnavailable, ForzeError, InvalidInputError

__all__ = ["is_transient", "translated"]

_TRANSIENT_CODES = frozenset(
    {
        6,  # HostUnreachable
        7,  # HostNotFound
        89,  # NetworkTimeout
        91,  # ShutdownInProgress
        112,  # WriteConflict
        189,  # PrimarySteppedDown
        262,  # ExceededTimeLimit
        9001,  # SocketException
        10107,  # NotWritablePrimary
        11600,  # InterruptedAtShutdown
        11602,  # InterruptedDueToReplStateChange
        13435,  # NotPrimaryNoSecondaryOk
        13436,  # NotPrimaryOrSecondary
        50,  # MaxTimeMSExpired
    }
)
"""Server error codes that trying again later may cure (a failover, a shutdown, a write
conflict, a time limit); other server errors are not transient."""

_TRANSIENT_LABELS = ("TransientTransactionError", "RetryableWriteError")


def translated(what: str) -> _Translated:
    """A block that turns PyMongo errors into ``InvalidInputError`` or
    ``EventStoreUnavailable`` (``with translated("read the feed"): ...``; ``what`` begins the
    message). forze errors raised inside pass through unchanged; so does cancellation.

    A timeout (the client's ``timeoutMS``, or a server's time limit), a lost connection and a
    failover are transient; a document MongoDB cannot store (too large, a key it forbids) is
    bad input; any other server error is an outage that is not transient.
    """
    return _Translated(what)


def is_transient(error: errors.PyMongoError) -> bool:
    """Whether trying ``error``'s operation again later may succeed."""
    if error.timeout or isinstance(error, errors.ConnectionFailure):
        return True
    if any(error.has_error_label(label) for label in _TRANSIENT_LABELS):
        return True
    return isinstance(error, errors.OperationFailure) and error.code in _TRANSIENT_CODES


class _Translated:
    """:func:`translated`'s block."""

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what

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
        if isinstance(error, errors.DocumentTooLarge | InvalidDocument):
            raise InvalidInputError(f"{self.what}: MongoDB cannot store it: {error}") from error
        if isinstance(error, errors.PyMongoError):
            if error.timeout:
                raise EventStoreUnavailable(
                    f"{self.what}: MongoDB did not answer within the timeout"
                    " (a network partition, or an overloaded server)",
                    transient=True,
                ) from error
            raise EventStoreUnavailable(
                f"{self.what}: {type(error).__name__}: {error}", transient=is_transient(error)
            ) from error
        if isinstance(error, OSError | TimeoutError):
            raise EventStoreUnavailable(
                f"{self.what}: {type(error).__name__}: {error}", transient=True
            ) from error
