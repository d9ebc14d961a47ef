"""``ReadModelCache``: a Redis cache of read-model queries that a projection keeps fresh.

Keys of one cache live under ``{namespace}:`` (a Redis Cluster hash tag: one slot), per cache
key ``k``:

- ``v:k``: the value, ``<epoch>:<json>`` (a value of another epoch is a miss);
- ``g:k``: the key's generation, bumped by every invalidation (expires a second more than
  ``load_seconds`` after the last bump: a reader that takes longer caches nothing);
- ``d:k``: "a unit of work that changes ``k`` may be committing" (expires ``hold_seconds``
  after it was set); ``all`` says the same of every key, and ``epoch`` is bumped to forget
  every value at once.

A reader reads the server time, ``epoch``, ``all``, ``g:k``, ``d:k`` and ``v:k`` in one
``MULTI``; on a miss it loads from the read model, then a script caches the value only if
neither marker is set, ``epoch`` and ``g:k`` are unchanged and at most ``load_seconds``
passed. The projector (through ``around``, the projection's ``CommitHook``) marks the keys of
a batch (bump ``g:k``, set ``d:k``, delete ``v:k``) before the batch's unit begins, and after
the unit ends bumps ``g:k`` again, deletes ``v:k`` and clears ``d:k``. So a value a reader
loaded before the commit is never cached after it, and a projector that dies between the
commit and the second step leaves keys that are only read through until ``d:k`` expires.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

from pydantic import TypeAdapter
from redis.asyncio import Redis

from forze.contracts import RecordedEvent
from forze.domain.errors import BrokerUnavailable, InvalidInputError
from forze_redis._connection import DEFAULT_TIMEOUT, call, guarded
from forze_redis.cache_aside import KeysOf
from forze_redis.storage import ttl_milliseconds

__all__ = ["ReadModelCache"]

log = logging.getLogger("forze.cache")
T = TypeVar("T")

_STORE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now - tonumber(ARGV[5]) > tonumber(ARGV[6]) then return 0 end
if redis.call('EXISTS', KEYS[2], KEYS[4]) > 0 then return 0 end
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then return 0 end
if (redis.call('GET', KEYS[3]) or '0') ~= ARGV[2] then return 0 end
if ARGV[4] == '' then
  redis.call('SET', KEYS[5], ARGV[1] .. ':' .. ARGV[3])
else
  redis.call('SET', KEYS[5], ARGV[1] .. ':' .. ARGV[3], 'PX', ARGV[4])
end
return 1
"""
"""Cache a loaded value unless it may be stale (keys: epoch, all, g:k, d:k, v:k; arguments:
the epoch and generation read, the JSON, PX or '', the read's server time in ms, the most
milliseconds a load may take)."""


class ReadModelCache:
    """A cache in front of read-model queries that never outlives the change of a document.

    ``await cache.get(key, load)`` returns the value cached under ``key``, or ``load()``'s
    (a read-model query), cached for ``ttl_seconds`` (``None``: until invalidated). Pass it
    as the projection's ``commit_hook``: after each batch the projector commits, the keys
    ``keys_of[event.event_type](event)`` names for its events are gone, and a value a reader
    loaded before the commit is never cached after it, however the reader and the projector
    interleave (see the module's docstring for how). A rebuild of the live version and a new
    version going live forget every value.

    Failures: when Redis cannot be reached, ``get`` loads without the cache (logged); the
    projector does not apply a batch whose keys it could not mark (``BrokerUnavailable``:
    it backs off and tries again), so Redis being down stalls the projection, never leaves a
    stale value. A batch that takes longer than ``hold_seconds`` is still safe unless the
    projector also dies between its commit and clearing its marks.
    """

    def __init__(
        self,
        client: Redis,
        namespace: str,
        keys_of: Mapping[str, KeysOf],
        *,
        ttl_seconds: float | None = 300.0,
        hold_seconds: float = 60.0,
        load_seconds: float = 30.0,
        timeout_seconds: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not namespace or "{" in namespace or "}" in namespace:
            raise InvalidInputError(f"namespace must be non-empty, without braces: {namespace!r}")
        self._px = ttl_milliseconds(ttl_seconds)
        self._hold_ms, self._load_ms = _milliseconds(hold_seconds), _milliseconds(load_seconds)
        self._generation_ms = self._load_ms + 1000  # outlives any read allowed to cache
        self._client, self._keys_of, self._timeout = client, dict(keys_of), timeout_seconds
        self._tag = "{" + namespace + "}:"
        self._store = client.register_script(_STORE)
        self._codecs: dict[Any, TypeAdapter[Any]] = {}

    async def get(self, key: str, load: Callable[[], Awaitable[T]], *, as_type: Any = None) -> T:
        """The value cached under ``key``, or ``await load()`` (cached when it cannot be stale).

        Values are JSON: with ``as_type`` (``Account | None``, ``list[Account]``, ...) through
        pydantic, which gives the same type back; without it ``json`` (plain data only, else
        ``TypeError`` or ``ValueError``). A cached value that does not decode is a miss."""
        keys = self._keys(key)
        try:
            async with (
                guarded(f"cache read {key}", self._timeout),
                self._client.pipeline(transaction=True) as pipe,
            ):
                pipe.time()
                pipe.mget(keys)
                (seconds, micros), found = await pipe.execute()
        except BrokerUnavailable as error:
            log.warning("reading %r without the cache because Redis failed: %s", key, error)
            return await load()
        epoch, everything, generation, marked, value = found
        epoch, generation = epoch or b"0", generation or b"0"
        if value is not None:
            seen, _, payload = value.partition(b":")
            if seen == epoch:
                try:
                    return cast(T, self._decode(payload, as_type))
                except ValueError as error:
                    log.warning("cache key %r holds no value (%s): loading it again", key, error)
        loaded = await load()
        if everything is not None or marked is not None:
            return loaded  # a change may be committing: read through, cache nothing
        payload = self._encode(loaded, as_type)
        read_at = seconds * 1000 + micros // 1000
        args = [epoch, generation, payload, self._px or "", read_at, self._load_ms]
        try:
            async with guarded(f"cache store {key}", self._timeout):
                await call(self._store(keys=keys, args=args))
        except BrokerUnavailable as error:
            log.warning("value of %r not cached because Redis failed: %s", key, error)
        return loaded

    @asynccontextmanager
    async def around(self, events: Sequence[RecordedEvent] | None) -> AsyncIterator[None]:
        """The projection's ``CommitHook``: mark the keys ``events`` make stale (every key for
        ``None``, or when ``keys_of`` raises) before the unit, clear them after it. Raises
        ``BrokerUnavailable`` when the keys cannot be marked; failing to clear them is only
        logged (they expire)."""
        keys = None if events is None else self._stale(events)
        if keys == []:
            yield
            return
        await self._run(self._mark, keys)
        try:
            yield
        finally:
            try:
                await self._run(self._settle, keys)
            except BrokerUnavailable as error:
                log.warning("cache keys left marked for %.0f s: %s", self._hold_ms / 1000, error)

    async def invalidate(self, keys: Iterable[str]) -> None:
        """Forget ``keys`` now; a value loaded before is not cached after. Call it only once
        the change is committed (``around`` does this for the projection)."""
        async with (
            guarded("cache invalidate", self._timeout),
            self._client.pipeline(transaction=True) as pipe,
        ):
            for key in dict.fromkeys(keys):
                _, _, generation, _, value = self._keys(key)
                pipe.incr(generation)
                pipe.pexpire(generation, self._generation_ms)
                pipe.delete(value)
            await pipe.execute()

    async def clear(self) -> None:
        """Forget every value of the namespace (they expire with their time-to-live)."""
        async with guarded("cache clear", self._timeout):
            await call(self._client.incr(self._tag + "epoch"))

    def _stale(self, events: Sequence[RecordedEvent]) -> list[str] | None:
        """The keys ``events`` make stale; ``None`` (every key) when ``keys_of`` fails on one,
        so a malformed event costs the cache its values, not the projection its run."""
        stale: dict[str, None] = {}
        for event in events:
            names = self._keys_of.get(event.event_type)
            if names is None:
                continue
            try:
                stale.update(dict.fromkeys(names(event)))
            except Exception as error:
                log.warning(
                    "no cache keys for %s at position %d (%r): forgetting every key",
                    event.event_type,
                    event.position,
                    error,
                )
                return None
        return list(stale)

    def _keys(self, key: str) -> list[str]:
        tag = self._tag
        return [tag + "epoch", tag + "all", tag + "g:" + key, tag + "d:" + key, tag + "v:" + key]

    async def _run(
        self, steps: Callable[[Any, list[str] | None], None], keys: list[str] | None
    ) -> None:
        async with (
            guarded("cache invalidation", self._timeout),
            self._client.pipeline(transaction=True) as pipe,
        ):
            steps(pipe, keys)
            await pipe.execute()

    def _mark(self, pipe: Any, keys: list[str] | None) -> None:
        """Before a unit: nothing it may change is cached or served from now on."""
        if keys is None:
            pipe.set(self._tag + "all", b"1", px=self._hold_ms)
            pipe.incr(self._tag + "epoch")
            return
        for key in keys:
            _, _, generation, marked, value = self._keys(key)
            pipe.incr(generation)
            pipe.pexpire(generation, self._generation_ms)
            pipe.set(marked, b"1", px=self._hold_ms)
            pipe.delete(value)

    def _settle(self, pipe: Any, keys: list[str] | None) -> None:
        """After a unit: what was loaded before it ended is not cached; reads cache again."""
        if keys is None:
            pipe.incr(self._tag + "epoch")
            pipe.delete(self._tag + "all")
            return
        for key in keys:
            _, _, generation, marked, value = self._keys(key)
            pipe.incr(generation)
            pipe.pexpire(generation, self._generation_ms)
            pipe.delete(value, marked)

    def _codec(self, as_type: Any) -> TypeAdapter[Any]:
        codec = self._codecs.get(as_type)
        if codec is None:
            codec = self._codecs[as_type] = TypeAdapter(as_type)
        return codec

    def _encode(self, value: object, as_type: Any) -> bytes:
        if as_type is None:
            return json.dumps(value, allow_nan=False, separators=(",", ":")).encode()
        return self._codec(as_type).dump_json(value)

    def _decode(self, payload: bytes, as_type: Any) -> object:
        if as_type is None:
            return json.loads(payload)
        return self._codec(as_type).validate_json(payload)


def _milliseconds(seconds: float) -> int:
    """``seconds`` (positive) in whole milliseconds, at least 1."""
    found = ttl_milliseconds(seconds)
    if found is None:  # pragma: no cover - only for None, which the signature excludes
        raise InvalidInputError("a duration is needed")
    return found
