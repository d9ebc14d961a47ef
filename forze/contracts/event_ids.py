"""``EventIds``: deterministic ids for the events one operation saves.

An operation caused by a message (a consumer handling it) gives its events ids derived from
the message id, so that handling the message again (a redelivery) appends events with the
same ids: the event store's durable idempotent append turns the second append into a no-op.
"""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID, uuid5

from forze.domain.errors import InvalidInputError

__all__ = ["EventIds"]


class EventIds:
    """The ids of the events one operation saves: ``uuid5(NAMESPACE, f"{seed}/{stream}/{n}")``,
    where ``n`` counts the events this operation has saved to that stream (0, 1, 2, ...).

    Repositories ask for the ids of a batch with :meth:`ids` and count them with
    :meth:`saved` once the append succeeded, so a retried save (after a conflict) reuses them.
    Meant for one operation at a time: a new ``EventIds`` per message.
    """

    NAMESPACE: ClassVar[UUID] = UUID("546e4557-8f40-4d68-82be-fd59c16e8f00")
    """The UUID namespace of every derived event id."""

    def __init__(self, seed: str) -> None:
        if not seed:
            raise InvalidInputError("event ids need a non-empty seed (the message id)")
        self.seed = seed
        self._saved: dict[str, int] = {}

    def ids(self, stream_id: str, count: int) -> list[UUID]:
        """The ids of the next ``count`` events of ``stream_id`` (not counted yet)."""
        start = self._saved.get(stream_id, 0)
        return [
            uuid5(self.NAMESPACE, f"{self.seed}/{stream_id}/{n}")
            for n in range(start, start + count)
        ]

    def saved(self, stream_id: str, count: int) -> None:
        """Count ``count`` events as saved to ``stream_id``: the next ids follow them."""
        self._saved[stream_id] = self._saved.get(stream_id, 0) + count

    def __repr__(self) -> str:
        return f"EventIds({self.seed!r})"
