"""``RedisCache`` and ``RedisCounter``: the key-value ports on plain Redis strings."""

from __future__ import annotations

import logging

from redis.asyncio import Redis

from forze.domain.errors import BrokerUnavailable, InvalidInputError
from forze_redis._connection import DEFAULT_TIMEOUT, call, guarded

__all__ = ["RedisCache", "RedisCounter", "ttl_milliseconds"]

_log = logging.getLogger(__name__)


def ttl_milliseconds(ttl_seconds: float | None) -> int | None:
    """``ttl_seconds`` as a Redis PX value (at least 1 ms); must be positive."""
    if ttl_seconds is None:
        return None
    if not ttl_seconds > 0:
        raise InvalidInputError(f"ttl_seconds must be positive, got {ttl_seconds!r}")
    return max(1, round(ttl_seconds * 1000))


class RedisCache:
    """A :class:`forze.contracts.Cache` of Redis strings under ``prefix`` (expiry: ``PX``).

    Best effort, as the port says: when Redis cannot be reached, ``get`` is a miss and ``set``
    does nothing (both logged as warnings); ``delete`` raises ``BrokerUnavailable``, since a
    failed invalidation would leave a stale value behind silently.
    """

    def __init__(
        self, client: Redis, *, prefix: str = "", timeout_seconds: float = DEFAULT_TIMEOUT
    ) -> None:
        self._client, self._prefix, self._timeout = client, prefix, timeout_seconds

    async def get(self, key: str) -> bytes | None:
        """The cached value, or ``None`` (also when Redis cannot be reached)."""
        try:
            async with guarded(f"GET {key}", self._timeout):
                value: bytes | None = await call(self._client.get(self._prefix + key))
        except BrokerUnavailable as error:
            _log.warning("cache miss because Redis failed: %s", error)
            return None
        return value

    async def set(self, key: str, value: bytes, *, ttl_seconds: float | None = None) -> None:
        """Cache ``value`` under ``key`` (replacing any time-to-live with ``ttl_seconds``)."""
        px = ttl_milliseconds(ttl_seconds)
        try:
            async with guarded(f"SET {key}", self._timeout):
                await call(self._client.set(self._prefix + key, bytes(value), px=px))
        except BrokerUnavailable as error:
            _log.warning("value not cached because Redis failed: %s", error)

    async def delete(self, key: str) -> bool:
        """Forget ``key``; ``True`` when it was cached."""
        async with guarded(f"DEL {key}", self._timeout):
            deleted: int = await call(self._client.delete(self._prefix + key))
        return deleted > 0


class RedisCounter:
    """A :class:`forze.contracts.Counter` on Redis integers under ``prefix`` (INCRBY is
    atomic on the server). Failures raise ``BrokerUnavailable``."""

    def __init__(
        self, client: Redis, *, prefix: str = "", timeout_seconds: float = DEFAULT_TIMEOUT
    ) -> None:
        self._client, self._prefix, self._timeout = client, prefix, timeout_seconds

    async def increment(self, name: str, by: int = 1) -> int:
        """Add ``by`` (negative allowed) and return the new value."""
        async with guarded(f"INCRBY {name}", self._timeout):
            value: int = await call(self._client.incrby(self._prefix + name, by))
        return value

    async def get(self, name: str) -> int:
        """The current value (0 when never incremented)."""
        async with guarded(f"GET {name}", self._timeout):
            value: bytes | None = await call(self._client.get(self._prefix + name))
        return 0 if value is None else int(value)

    async def reset(self, name: str) -> None:
        """Set the counter back to 0 (by deleting it)."""
        async with guarded(f"DEL {name}", self._timeout):
            await call(self._client.delete(self._prefix + name))
