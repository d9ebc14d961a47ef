"""The checkpoint-store port used by feed consumers (projectors, relays, sagas)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

__all__ = ["CheckpointStore"]


class CheckpointStore(Protocol):
    """Remembers, per consumer name, the global position up to which the feed was handled.

    Guarantees: a saved position is durable once ``save`` returns; ``load`` of an unknown name
    is 0 (start of the feed); ``save`` never moves a checkpoint backwards (use ``reset``);
    ``moved_at`` tells when it last moved forward (what a consumer's ``stalled`` rests on).
    """

    async def load(self, name: str) -> int:
        """The last handled position of consumer ``name`` (0 when it never ran)."""
        ...

    async def save(self, name: str, position: int) -> None:
        """Record that ``name`` handled every event up to ``position``; never moves back."""
        ...

    async def reset(self, name: str) -> None:
        """Forget the checkpoint of ``name`` so that it starts from the beginning."""
        ...

    async def moved_at(self, name: str) -> datetime | None:
        """When the checkpoint of ``name`` last moved forward (UTC, by the store's clock);
        ``None`` when it has none. A ``save`` that does not move it leaves this unchanged."""
        ...

    async def all(self) -> dict[str, int]:
        """Every stored checkpoint by consumer name (operators' status tools list them); a
        reset one is gone."""
        ...
