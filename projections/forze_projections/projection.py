"""``Projection``: how events of the feed become read-model documents."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from forze.contracts import ReadModelSpec, ReadModelStores, RecordedEvent
from forze.domain.errors import InvalidInputError

__all__ = ["Projection", "ProjectionHandler"]

ProjectionHandler = Callable[[RecordedEvent, ReadModelStores], Awaitable[None]]
"""``handler(event, read_models)``: apply one recorded event to the read models."""


@dataclass(frozen=True, slots=True)
class Projection:
    """A named, versioned mapping from event type names to handlers.

    Bump ``version`` when the handlers change meaning: the new version is built from the start
    of the feed into its own copy of ``read_models`` (under its own checkpoint,
    ``checkpoint_name``) while the old version keeps serving, and replaces it once caught up.
    ``read_models`` lists every read model the handlers write; writing another one is refused.
    """

    name: str
    version: int
    handlers: Mapping[str, ProjectionHandler]
    read_models: tuple[ReadModelSpec[Any], ...] = ()

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise InvalidInputError(f"projection name {self.name!r} must be an identifier")
        if self.version < 1:
            raise InvalidInputError(f"projection {self.name!r}: version must be >= 1")
        if not self.handlers:
            raise InvalidInputError(f"projection {self.name!r} handles no event type")

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
