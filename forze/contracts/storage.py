"""Key-value ports: cache, counters and object storage."""

from __future__ import annotations

from typing import Protocol

__all__ = ["Cache", "Counter", "ObjectStorage"]


class Cache(Protocol):
    """A best-effort byte cache with optional expiry.

    Guarantees: a value read back is the last one set and not yet expired; a miss is ``None``,
    never an error; the cache may forget anything at any time.
    """

    async def get(self, key: str) -> bytes | None:
        """The cached value, or ``None``."""
        ...

    async def set(self, key: str, value: bytes, *, ttl_seconds: float | None = None) -> None:
        """Cache ``value`` under ``key``, expiring after ``ttl_seconds`` when given."""
        ...

    async def delete(self, key: str) -> bool:
        """Forget ``key``; ``True`` when it was cached."""
        ...


class Counter(Protocol):
    """Named integer counters.

    Guarantees: ``increment`` is atomic, so concurrent increments are never lost; an unknown
    counter is 0.
    """

    async def increment(self, name: str, by: int = 1) -> int:
        """Add ``by`` and return the new value."""
        ...

    async def get(self, name: str) -> int:
        """The current value (0 when never incremented)."""
        ...

    async def reset(self, name: str) -> None:
        """Set the counter back to 0."""
        ...


class ObjectStorage(Protocol):
    """Binary objects by key (exports, archives, large snapshots).

    Guarantees: ``put`` replaces the whole object atomically; ``get`` of a missing key raises
    ``NotFoundError``; ``list`` returns keys in lexicographic order. A key an adapter cannot
    store (empty, too long, control characters) is refused with ``InvalidInputError`` before
    anything is sent; a backend that cannot be reached or fails raises
    ``StorageUnavailable`` (``transient`` when trying again may work).
    """

    async def put(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> None:
        """Store ``data`` under ``key``."""
        ...

    async def get(self, key: str) -> bytes:
        """The object's bytes; ``NotFoundError`` when absent."""
        ...

    async def delete(self, key: str) -> bool:
        """Delete the object; ``True`` when it existed."""
        ...

    async def list(self, prefix: str = "") -> list[str]:
        """Keys that start with ``prefix``, sorted."""
        ...
