"""Plain cache-aside on any :class:`forze.contracts.Cache`, and deleting the keys events name.

For read-model queries prefer :class:`forze_redis.ReadModelCache`, which its projection keeps
fresh. With these helpers a reader that loaded a document just before the projection
committed its change can cache the old document after ``invalidate`` ran, and invalidating
before the commit lets any reader do so; they suit values where ``ttl_seconds`` of staleness
is acceptable. With :class:`RedisCache` the cache is shared by every process::

    account = await cached(cache, f"account:{id}", 60, lambda: accounts.get(id))

    INVALIDATES = {"MoneyDeposited": lambda e: [f"account:{e.stream_id.split('-', 1)[1]}"]}
    await invalidate(cache, batch, INVALIDATES)   # in a feed consumer, per batch of events
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from forze.contracts import Cache, RecordedEvent

__all__ = ["KeysOf", "cached", "invalidate"]

log = logging.getLogger("forze.cache")

KeysOf = Callable[[RecordedEvent], Iterable[str]]
"""The cache keys an event makes stale."""


async def cached(
    cache: Cache, key: str, ttl_seconds: float | None, load: Callable[[], Awaitable[Any]]
) -> Any:
    """The JSON value cached under ``key``; on a miss, ``load()``'s result, cached as JSON for
    ``ttl_seconds`` (``None``: until invalidated). A cached value that is not JSON counts as
    a miss; a loaded value that is not JSON-able raises ``TypeError`` or ``ValueError``."""
    found = await cache.get(key)
    if found is not None:
        try:
            return json.loads(found)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            log.warning("cache key %r holds no JSON (%s): loading it again", key, error)
    value = await load()
    encoded = json.dumps(value, allow_nan=False, separators=(",", ":")).encode()
    await cache.set(key, encoded, ttl_seconds=ttl_seconds)
    return value


async def invalidate(
    cache: Cache, events: Iterable[RecordedEvent], keys_of: Mapping[str, KeysOf]
) -> int:
    """Delete the keys ``keys_of[event.event_type]`` names for each event (types not in the
    mapping change nothing); each key once. Returns how many keys were cached. Call it only
    after the change the events made is committed."""
    stale: dict[str, None] = {}
    for event in events:
        names = keys_of.get(event.event_type)
        if names is not None:
            stale.update(dict.fromkeys(names(event)))
    deleted = 0
    for key in stale:
        deleted += await cache.delete(key)
    return deleted
