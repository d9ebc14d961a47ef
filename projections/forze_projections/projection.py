"""``Projection``: how events of the feed become read-model documents."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from forze.contracts import ReadModelSpec, ReadModelStores, RecordedEvent
from forze.domain.errors import InvalidInputError, WiringError
from forze.domain.spec import AggregateSpec
from forze.domain.values import DomainEvent
from forze_eventstore import EventCodec
from forze_projections.typed import EventHandler, Handles

__all__ = ["CommitHook", "Projection", "ProjectionHandler"]

ProjectionHandler = Callable[[RecordedEvent, ReadModelStores], Awaitable[None]]
"""``handler(event, read_models)``: apply one recorded event, its stored ``data`` as is."""


class CommitHook(Protocol):
    """Told about every unit of work that changes what readers of a projection see, e.g.
    ``forze_redis.ReadModelCache``, which keeps a cache of the read models' queries fresh."""

    def around(self, events: Sequence[RecordedEvent] | None) -> AbstractAsyncContextManager[None]:
        """Entered before the unit begins, left after it committed or rolled back (with its
        error). ``events``: the batch the unit applies to the live version; ``None``: the
        unit may change any document (a rebuild empties the live version, a new version goes
        live). Raising on entry applies nothing: a transient ``BrokerUnavailable`` or
        ``EventStoreUnavailable`` makes the projector back off and try the batch again."""
        ...


@dataclass(frozen=True, slots=True)
class Projection:
    """A named, versioned mapping from event type names to handlers.

    Bump ``version`` when the handlers change meaning: the new version is built from the start
    of the feed into its own copy of ``read_models`` (under its own checkpoint,
    ``checkpoint_name``) while the old version keeps serving, and replaces it once caught up.
    ``read_models`` lists every read model the handlers write; writing another one is refused.

    Build it with :meth:`typed` to have handlers per event class that receive decoded, upcast
    events. The constructor takes raw handlers, which get the stored ``data`` of the schema
    version it was written in (for feeds without specs); with ``specs``, a raw handler of a
    type name no spec declares is refused (``WiringError``).

    ``commit_hook`` (a ``CommitHook``) wraps each unit of work of the projector that changes
    what readers see: batches applied to the live version, a rebuild emptying it, a version
    going live. Inline projections do not call it.
    """

    name: str
    version: int
    handlers: Mapping[str, ProjectionHandler]
    read_models: tuple[ReadModelSpec[Any], ...] = ()
    specs: tuple[AggregateSpec[Any], ...] = ()
    commit_hook: CommitHook | None = None

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise InvalidInputError(f"projection name {self.name!r} must be an identifier")
        if self.version < 1:
            raise InvalidInputError(f"projection {self.name!r}: version must be >= 1")
        if not self.handlers:
            raise InvalidInputError(f"projection {self.name!r} handles no event type")
        if self.specs:
            declared = _declared(self.name, self.specs)
            for event_type in self.handlers:
                if event_type not in declared:
                    raise WiringError(
                        f"projection {self.name!r} handles {event_type!r}, which none of its"
                        f" specs declares (declared: {', '.join(sorted(declared)) or 'none'})"
                    )

    @classmethod
    def typed(
        cls,
        name: str,
        version: int,
        *,
        specs: Iterable[AggregateSpec[Any]],
        handlers: Iterable[Handles[Any]],
        read_models: Iterable[ReadModelSpec[Any]] = (),
        commit_hook: CommitHook | None = None,
    ) -> Projection:
        """A projection whose handlers are keyed by event class (see ``on``).

        Each handler receives the event decoded and upcast by the codec of ``specs`` (what the
        aggregates see), its envelope and the read models (``EventHandler``). A class that no
        spec declares, or one handled twice, raises ``WiringError`` here, when the projection
        is built. An event the codec cannot decode (a failing upcaster, data that does not
        fit the class) raises ``SerializationError`` naming it where the handler would have
        run, so the projector's failure policy applies to it.
        """
        unique = tuple(dict.fromkeys(specs))
        declared = _declared(name, unique)
        decode = EventCodec.for_specs(*unique).decode
        names_of: dict[type[DomainEvent], list[str]] = {}
        for event_type, event_class in declared.items():
            names_of.setdefault(event_class, []).append(event_type)
        by_name: dict[str, ProjectionHandler] = {}
        for entry in handlers:
            names = names_of.get(entry.event_class)
            if names is None:
                raise WiringError(
                    f"projection {name!r} handles {entry.event_class.__name__}, which none of"
                    f" its specs declares (declared: {_classes(declared.values())})"
                )
            if names[0] in by_name:
                raise WiringError(f"projection {name!r} handles {entry.event_class.__name__} twice")
            for event_type in names:
                by_name[event_type] = _decoding(decode, entry.handler)
        return cls(name, version, by_name, tuple(read_models), unique, commit_hook)

    @property
    def checkpoint_name(self) -> str:
        """The checkpoint this version of the projection keeps."""
        return f"{self.name}@v{self.version}"

    @property
    def event_types(self) -> tuple[str, ...]:
        """The event types the projection reads from the feed."""
        return tuple(self.handlers)

    async def handle(self, event: RecordedEvent, read_models: ReadModelStores) -> None:
        """Apply ``event`` if the projection handles its type."""
        handler = self.handlers.get(event.event_type)
        if handler is not None:
            await handler(event, read_models)


def _declared(projection: str, specs: Iterable[AggregateSpec[Any]]) -> dict[str, type[DomainEvent]]:
    """Every event type name the specs declare, with its class; one spec per name."""
    by_name: dict[str, AggregateSpec[Any]] = {}
    declared: dict[str, type[DomainEvent]] = {}
    for spec in specs:
        known = by_name.setdefault(spec.name, spec)
        if known is not spec and known != spec:
            raise WiringError(
                f"projection {projection!r} reads two different aggregate specs named"
                f" {spec.name!r}: one name, one spec"
            )
        for event_type in spec.events:
            declared[event_type.name] = event_type.cls
    return declared


def _classes(classes: Iterable[type[DomainEvent]]) -> str:
    """The names of ``classes``, sorted, for a message (``"none"`` when there are none)."""
    return ", ".join(sorted({cls.__name__ for cls in classes})) or "none"


def _decoding(
    decode: Callable[[RecordedEvent], DomainEvent], handler: EventHandler[Any]
) -> ProjectionHandler:
    """The raw handler that decodes (and upcasts) the envelope, then calls ``handler``."""

    def handle(envelope: RecordedEvent, read_models: ReadModelStores) -> Awaitable[None]:
        # No coroutine of its own: the caller awaits the handler's (a decoding error raises
        # here, in the caller's ``await``).
        return handler(decode(envelope), envelope, read_models)

    return handle
