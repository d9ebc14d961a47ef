"""``RedisIdempotencyStore``: atomic claims (``SET NX PX``) with their results for replay."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis

from forze.domain.errors import InvalidInputError
from forze_redis._connection import DEFAULT_TIMEOUT, call, guarded
from forze_redis.storage import ttl_milliseconds

__all__ = ["RedisIdempotencyStore"]

_CLAIMED = b""
"""The value of a claimed key without a result yet; a result is stored as JSON text."""

# Store the result under the key, keeping the claim's remaining time-to-live (KEEPTTL);
# a key never reserved (or expired) is claimed by its result, without expiry.
_COMPLETE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
end
return redis.call('SET', KEYS[1], ARGV[1])
"""


class RedisIdempotencyStore:
    """A :class:`forze.contracts.IdempotencyStore` on Redis strings under ``prefix``.

    ``reserve`` is ``SET key "" NX PX ttl``: the server lets exactly one caller create the key.
    ``complete`` stores the result as JSON in the same key and keeps its time-to-live;
    ``result`` replays it; ``release`` deletes the key. Failures raise ``BrokerUnavailable``.
    """

    def __init__(
        self, client: Redis, *, prefix: str = "", timeout_seconds: float = DEFAULT_TIMEOUT
    ) -> None:
        self._client, self._prefix, self._timeout = client, prefix, timeout_seconds
        self._complete = client.register_script(_COMPLETE)

    async def reserve(self, key: str, *, ttl_seconds: float | None = None) -> bool:
        """Claim ``key`` until ``ttl_seconds`` pass (forever without); ``False`` if taken."""
        px = ttl_milliseconds(ttl_seconds)
        async with guarded(f"SET NX {key}", self._timeout):
            created: bool | None = await call(
                self._client.set(self._prefix + key, _CLAIMED, nx=True, px=px)
            )
        return bool(created)

    async def complete(self, key: str, result: Mapping[str, Any]) -> None:
        """Store the JSON-able ``result`` of ``key`` (``InvalidInputError`` if it is not)."""
        try:
            encoded = json.dumps(dict(result), allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError) as error:
            raise InvalidInputError(f"the result of {key!r} is not JSON-able: {error}") from None
        async with guarded(f"completing {key}", self._timeout):
            await self._complete(keys=[self._prefix + key], args=[encoded])

    async def result(self, key: str) -> Mapping[str, Any] | None:
        """The stored result of a completed key, or ``None``."""
        async with guarded(f"GET {key}", self._timeout):
            value: bytes | None = await call(self._client.get(self._prefix + key))
        if not value:
            return None
        loaded: dict[str, Any] = json.loads(value)
        return loaded

    async def release(self, key: str) -> None:
        """Drop the claim (and any result) so that the key can be reserved again."""
        async with guarded(f"DEL {key}", self._timeout):
            await call(self._client.delete(self._prefix + key))
