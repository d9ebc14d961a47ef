"""In-memory cache, counters and object storage.

Every method body runs without awaiting, so each operation is atomic with respect to other
asyncio tasks: these adapters are safe to share between concurrent tasks of one event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from forze.domain.errors import InvalidInputError, NotFoundError

__all__ = ["Clock", "InMemoryCache", "InMemoryCounter", "InMemoryObjectStorage"]

Clock = Callable[[], float]
"""A source of monotonic seconds (``time.monotonic`` unless a test passes a manual clock)."""


def _expiry_of(clock: Clock, ttl_seconds: float | None) -> float | None:
    """The clock reading at which a value set now with ``ttl_seconds`` expires (``None``: never).

    A time-to-live must be positive; ``InvalidInputError`` otherwise.
    """
    if ttl_seconds is None:
        return None
    if ttl_seconds <= 0:
        raise InvalidInputError(f"ttl_seconds must be positive, got {ttl_seconds!r}")
    return clock() + ttl_seconds


class InMemoryCache:
    """A :class:`forze.contracts.Cache` held in a dict; expiry is checked against ``clock``.

    Values are copied on the way in, so a caller's buffer changing later does not change them.
    """

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[str, tuple[bytes, float | None]] = {}

    def _live(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if expires_at is not None and self._clock() >= expires_at:
            del self._entries[key]
            return None
        return value

    async def get(self, key: str) -> bytes | None:
        """The cached value, or ``None`` when it was never set, was deleted or has expired."""
        return self._live(key)

    async def set(self, key: str, value: bytes, *, ttl_seconds: float | None = None) -> None:
        """Cache a copy of ``value``; without ``ttl_seconds`` it never expires."""
        self._entries[key] = (bytes(value), _expiry_of(self._clock, ttl_seconds))

    async def delete(self, key: str) -> bool:
        """Forget ``key``; ``True`` when a live (unexpired) value was cached."""
        existed = self._live(key) is not None
        self._entries.pop(key, None)
        return existed


class InMemoryCounter:
    """A :class:`forze.contracts.Counter` held in a dict; increments are atomic."""

    def __init__(self) -> None:
        self._values: dict[str, int] = {}

    async def increment(self, name: str, by: int = 1) -> int:
        """Add ``by`` (which may be negative) and return the new value."""
        value = self._values.get(name, 0) + by
        self._values[name] = value
        return value

    async def get(self, name: str) -> int:
        """The current value (0 when never incremented)."""
        return self._values.get(name, 0)

    async def reset(self, name: str) -> None:
        """Set the counter back to 0."""
        self._values.pop(name, None)


@dataclass(frozen=True, slots=True)
class _StoredObject:
    """An object as :class:`InMemoryObjectStorage` keeps it."""

    data: bytes
    content_type: str


class InMemoryObjectStorage:
    """A :class:`forze.contracts.ObjectStorage` held in a dict.

    ``put`` stores a copy of the bytes, so the caller's buffer changing later has no effect.
    """

    def __init__(self) -> None:
        self._objects: dict[str, _StoredObject] = {}

    async def put(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> None:
        """Store a copy of ``data`` under ``key``, replacing any previous object."""
        self._objects[key] = _StoredObject(bytes(data), content_type)

    async def get(self, key: str) -> bytes:
        """The object's bytes; ``NotFoundError`` when absent."""
        return self._stored(key).data

    def content_type_of(self, key: str) -> str:
        """The content type the object was stored with; ``NotFoundError`` when absent."""
        return self._stored(key).content_type

    async def delete(self, key: str) -> bool:
        """Delete the object; ``True`` when it existed."""
        return self._objects.pop(key, None) is not None

    def _stored(self, key: str) -> _StoredObject:
        stored = self._objects.get(key)
        if stored is None:
            raise NotFoundError(f"object {key!r} does not exist")
        return stored

    async def list(self, prefix: str = "") -> list[str]:
        """Keys that start with ``prefix``, in lexicographic order."""
        return sorted(key for key in self._objects if key.startswith(prefix))
