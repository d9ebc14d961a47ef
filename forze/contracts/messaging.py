"""The port that deduplicates what is received (publishing: ``forze.contracts.broker``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["IdempotencyStore"]


class IdempotencyStore(Protocol):
    """Remembers which keys (event ids, Idempotency-Key headers) were handled, and their results.

    Guarantees: ``reserve`` is atomic: of concurrent callers with one key exactly one gets
    ``True``; a completed key keeps its result until its time-to-live ends; ``release`` lets a
    failed attempt be retried.
    """

    async def reserve(self, key: str, *, ttl_seconds: float | None = None) -> bool:
        """Claim ``key``; ``False`` when it is already claimed or completed."""
        ...

    async def complete(self, key: str, result: Mapping[str, Any]) -> None:
        """Store the JSON-able result of the handled key."""
        ...

    async def result(self, key: str) -> Mapping[str, Any] | None:
        """The stored result of a completed key, or ``None``."""
        ...

    async def release(self, key: str) -> None:
        """Drop a claim so the key can be handled again (after a failure)."""
        ...
