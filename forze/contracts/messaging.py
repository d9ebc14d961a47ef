"""Ports for publishing the feed and deduplicating what is received."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from forze.contracts.envelopes import RecordedEvent

__all__ = ["IdempotencyStore", "Publisher"]


class Publisher(Protocol):
    """Publishes recorded events to a transport (a one-method port: a callable).

    Guarantees: when the call returns, the transport has accepted every event (publisher
    confirms, SQS acknowledgements); events of one stream are published in version order;
    delivery is at-least-once, so consumers deduplicate by ``event_id``.
    """

    async def __call__(self, events: Sequence[RecordedEvent]) -> None:
        """Publish ``events`` and return once the transport has accepted all of them."""
        ...


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
