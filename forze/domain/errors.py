"""The forze error tree.

Every error forze raises on purpose derives from :class:`ForzeError`; adapters translate driver
errors at their boundary so that application code only ever catches these::

    ForzeError
    ├── DomainError                 a business rule refused a command (raised by aggregates)
    ├── InvalidInputError           bad input rejected before anything was written (also ValueError)
    │   ├── DuplicateEventIdError   an event id already stored elsewhere or with other content
    │   └── MalformedMessage        a received message is not a valid forze envelope
    ├── ConcurrencyError            optimistic concurrency check failed
    ├── NotFoundError               something looked up does not exist
    │   └── StreamNotFound          an event stream that must exist does not
    ├── StreamArchived              events of a stream live in an archive this reader lacks
    ├── StreamDeleted               the stream was deleted
    ├── EventStoreUnavailable       the store's backend cannot be reached or failed
    ├── BrokerUnavailable           a message broker cannot be reached or failed
    ├── StorageUnavailable          an object storage (S3) cannot be reached or failed
    ├── MessageRefused              a broker refused a message for good (too large, say)
    ├── SerializationError          an event or snapshot cannot be encoded or decoded
    │   └── UnknownEventTypeError   a stored event type that no spec declares
    ├── ReadOnlyOperationError      a query operation asked for a command port
    └── WiringError                 the runtime was composed wrongly (missing or duplicate port,
                                    an event class the aggregate's spec does not declare)
"""

from __future__ import annotations

__all__ = [
    "BrokerUnavailable",
    "ConcurrencyError",
    "DomainError",
    "DuplicateEventIdError",
    "EventStoreUnavailable",
    "ForzeError",
    "InvalidInputError",
    "MalformedMessage",
    "MessageRefused",
    "NotFoundError",
    "ReadOnlyOperationError",
    "SerializationError",
    "StorageUnavailable",
    "StreamArchived",
    "StreamDeleted",
    "StreamNotFound",
    "UnknownEventTypeError",
    "WiringError",
]


class ForzeError(Exception):
    """Root of every error forze raises on purpose."""


class DomainError(ForzeError):
    """A business rule refused a command; nothing was recorded."""


class InvalidInputError(ForzeError, ValueError):
    """Input was rejected before anything was written (empty stream id, non-JSON data, ...)."""


class DuplicateEventIdError(InvalidInputError):
    """An appended event id is already stored at a different place (stream or version), or
    at the same place with a different event type, data or metadata (``differs`` says which:
    ``"event type"``, ``"data"`` or ``"metadata"``; ``None`` when the place differs)."""

    def __init__(
        self,
        event_id: object,
        stored_stream_id: str,
        stored_version: int,
        *,
        differs: str | None = None,
    ) -> None:
        content = "" if differs is None else f" with a different {differs}"
        super().__init__(
            f"event id {event_id} is already stored as version {stored_version} "
            f"of stream {stored_stream_id!r}{content}"
        )
        self.event_id = event_id
        self.stored_stream_id = stored_stream_id
        self.stored_version = stored_version
        self.differs = differs


class ConcurrencyError(ForzeError):
    """The stream was not at the expected version; nothing was written.

    ``expected`` is what the caller asked for (an int or an ``ExpectedVersion`` name) and
    ``actual`` is the stream's version at the time of the check (0 when it does not exist).
    """

    def __init__(self, stream_id: str, expected: object, actual: int) -> None:
        super().__init__(
            f"stream {stream_id!r}: expected version {expected}, actual version {actual}"
        )
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class NotFoundError(ForzeError):
    """Something that was looked up does not exist."""


class StreamNotFound(NotFoundError):
    """A stream that had to exist does not."""

    def __init__(self, stream_id: str) -> None:
        super().__init__(f"stream {stream_id!r} does not exist")
        self.stream_id = stream_id


class StreamArchived(ForzeError):
    """A read asked for versions of a stream that were moved to an archive in object
    storage, and the store was read directly: read through
    ``forze_eventstore.ArchivedReads`` (what a runtime with an archive wires) to get them.
    ``version`` is an archived version the read asked for."""

    def __init__(self, stream_id: str, version: int) -> None:
        super().__init__(
            f"version {version} of stream {stream_id!r} is archived: read the stream through"
            " forze_eventstore.ArchivedReads with the archive's object storage"
        )
        self.stream_id = stream_id
        self.version = version


class StreamDeleted(ForzeError):
    """The stream was deleted and cannot be read or appended to."""

    def __init__(self, stream_id: str) -> None:
        super().__init__(f"stream {stream_id!r} was deleted")
        self.stream_id = stream_id


class EventStoreUnavailable(ForzeError):
    """The event store's backend could not be reached or failed.

    ``transient`` (the default) means trying again later may succeed: a lost connection, a
    restarting server, a lock or serialisation conflict. A failure the backend would repeat
    (a table's constraint, a statement it refuses) is not transient: subscriptions and
    projectors, which try transient failures again, stop on it instead.
    """

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


class BrokerUnavailable(ForzeError):
    """A message broker could not be reached or failed; ``transient`` as for
    :class:`EventStoreUnavailable` (the relay and consumers try transient failures again)."""

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


class StorageUnavailable(ForzeError):
    """An object storage (S3, say) could not be reached or failed; ``transient`` as for
    :class:`EventStoreUnavailable`: throttling, a server error, a timeout or a lost connection
    may pass, while a refusal the storage would repeat (access denied, a missing bucket, bad
    credentials) is not transient. A missing object is :class:`NotFoundError`, not this."""

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


class MessageRefused(ForzeError):
    """A broker refused message ``message_id`` for a reason it would repeat (too large, an
    invalid attribute); the messages published before it in the same call were accepted."""

    def __init__(self, message_id: str, reason: str) -> None:
        super().__init__(f"the broker refused message {message_id!r}: {reason}")
        self.message_id = message_id
        self.reason = reason


class MalformedMessage(InvalidInputError):
    """A received message is not a valid envelope (a missing or bad CloudEvents attribute,
    a body that is not a JSON object): consumers dead-letter it at once."""


class SerializationError(ForzeError):
    """An event or snapshot could not be encoded or decoded."""


class UnknownEventTypeError(SerializationError):
    """A stored event's type name has no class: no ``EventType`` of the specs the codec was
    made from declares it (``stream_id``, ``version`` and ``position`` say where the event
    is, when known)."""

    def __init__(
        self,
        event_type: str,
        *,
        stream_id: str | None = None,
        position: int | None = None,
        version: int | None = None,
    ):
        where = ""
        if stream_id is not None:
            at_version = "" if version is None else f", version {version}"
            where = f" (stream {stream_id!r}{at_version}, position {position})"
        super().__init__(
            f"unknown event type {event_type!r}{where}: add EventType({event_type!r}, <its"
            " class>) to the events of the AggregateSpec that records it, and pass that spec"
            " to the repository, projection or saga that reads it"
        )
        self.event_type = event_type
        self.stream_id = stream_id
        self.position = position
        self.version = version


class ReadOnlyOperationError(ForzeError):
    """A query (read-only) operation tried to obtain a command port or to write."""


class WiringError(ForzeError):
    """The runtime was composed wrongly: a required port is missing or provided twice, or an
    aggregate emitted an event class its spec does not declare."""
