"""``EventCodec``: domain event classes <-> stored envelopes, with upcasting on read."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID, uuid4

from pydantic import ValidationError

from forze.contracts import NewEvent, RecordedEvent
from forze.domain.errors import InvalidInputError, SerializationError, UnknownEventTypeError
from forze.domain.spec import AggregateSpec, EventType, Upcaster
from forze.domain.values import DomainEvent

__all__ = ["SCHEMA_VERSION_KEY", "EventCodec"]

SCHEMA_VERSION_KEY = "schema_version"
"""The metadata key holding the schema version an event's data was written in."""


class EventCodec:
    """Encodes domain events into ``NewEvent``s and decodes recorded events back.

    The mapping between classes and stored type names is explicit (``EventType``), never
    derived from class names, so refactoring code never changes what is stored. On read,
    upcasters lift old data one schema version at a time up to the current version.
    """

    def __init__(self, event_types: Iterable[EventType[Any]], upcasters: Iterable[Upcaster] = ()):
        self._by_name: dict[str, EventType[Any]] = {}
        self._by_class: dict[type[DomainEvent], EventType[Any]] = {}
        for event_type in event_types:
            known = self._by_name.get(event_type.name)
            if known is not None and known != event_type:
                raise InvalidInputError(f"event type {event_type.name!r} is mapped twice")
            self._by_name[event_type.name] = event_type
            self._by_class[event_type.cls] = event_type
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        for upcaster in upcasters:
            slot = (upcaster.event_type, upcaster.from_version)
            if slot in self._upcasters:
                raise InvalidInputError(
                    f"two upcasters for {upcaster.event_type!r} "
                    f"from version {upcaster.from_version}"
                )
            self._upcasters[slot] = upcaster

    @classmethod
    def for_specs(cls, *specs: AggregateSpec[Any]) -> EventCodec:
        """A codec knowing every event type and upcaster of ``specs``."""
        return cls(
            (t for spec in specs for t in spec.events),
            (u for spec in specs for u in spec.upcasters),
        )

    def knows(self, event_type: str) -> bool:
        """Whether ``event_type`` has a class in this codec."""
        return event_type in self._by_name

    @property
    def event_types(self) -> tuple[str, ...]:
        """Every stored type name this codec decodes."""
        return tuple(self._by_name)

    def encode(
        self,
        event: DomainEvent,
        metadata: Mapping[str, Any] | None = None,
        *,
        event_id: UUID | None = None,
    ) -> NewEvent:
        """The envelope for ``event``, its schema version stamped in the metadata."""
        event_type = self._by_class.get(type(event))
        if event_type is None:
            name = type(event).__name__
            raise InvalidInputError(
                f"event class {name} has no type name: add EventType('<stored name>', {name})"
                " to the events of its AggregateSpec"
            )
        stamped = dict(metadata or {})
        stamped[SCHEMA_VERSION_KEY] = event_type.schema_version
        try:
            data = event.model_dump(mode="json")
        except ValueError as error:  # pydantic: nested too deep, or a value JSON cannot hold
            raise InvalidInputError(
                f"event {event_type.name!r} ({type(event).__name__}) cannot be stored: {error}"
            ) from error
        return NewEvent(
            event_type=event_type.name,
            data=data,
            metadata=stamped,
            event_id=event_id or uuid4(),
        )

    def decode(self, recorded: RecordedEvent) -> DomainEvent:
        """The domain event of ``recorded``, upcast to the current schema version."""
        event_type = self._by_name.get(recorded.event_type)
        if event_type is None:
            raise UnknownEventTypeError(
                recorded.event_type,
                stream_id=recorded.stream_id,
                position=recorded.position,
                version=recorded.version,
            )
        data = recorded.data
        version = recorded.metadata.get(SCHEMA_VERSION_KEY, 1)
        if version != event_type.schema_version:
            data = self._upcast(recorded, dict(data), version, event_type.schema_version)
        try:
            return event_type.cls.model_validate(data)  # type: ignore[no-any-return]
        except ValidationError as error:
            raise SerializationError(
                f"cannot decode {recorded.event_type!r} {_where(recorded)} as"
                f" {event_type.cls.__name__} (stored in schema version {version}"
                f"{_upcast_to(version, event_type.schema_version)}): {_fields_of(error)}"
            ) from error

    def _upcast(
        self, recorded: RecordedEvent, data: dict[str, Any], version: object, current: int
    ) -> dict[str, Any]:
        if not isinstance(version, int) or version > current or version < 1:
            raise SerializationError(
                f"{recorded.event_type!r} {_where(recorded)} has schema version "
                f"{version!r}, but this code knows versions 1 to {current}"
            )
        while version < current:
            upcaster = self._upcasters.get((recorded.event_type, version))
            if upcaster is None:
                raise SerializationError(
                    f"no upcaster for {recorded.event_type!r} from schema version {version}"
                    f" (to read the event {_where(recorded)})"
                )
            try:
                data = upcaster.upcast(data)
            except Exception as error:  # the upcaster's own bug or a shape it did not expect
                raise SerializationError(
                    f"the upcaster of {recorded.event_type!r} from schema version {version}"
                    f" failed on the event {_where(recorded)}: {type(error).__name__}: {error}"
                ) from error
            version += 1
        return data


def _where(recorded: RecordedEvent) -> str:
    """Where a stored event is, for error messages: position, stream and version."""
    return (
        f"at position {recorded.position} (stream {recorded.stream_id!r},"
        f" version {recorded.version})"
    )


def _upcast_to(stored: object, current: int) -> str:
    return "" if stored == current else f", upcast to {current}"


def _fields_of(error: ValidationError) -> str:
    """A pydantic error on one line, naming each field (stored values left out)."""
    return "; ".join(
        f"field {'.'.join(map(str, problem['loc']))!r}: {problem['msg']}"
        if problem["loc"]
        else problem["msg"]
        for problem in error.errors(include_url=False, include_input=False)
    )
