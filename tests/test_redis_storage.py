"""The Redis cache, counters and idempotency store pass their contract suites on a real
server, and cache-aside reads and feed invalidation work on the Redis cache."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from forze.contracts import Cache, Counter, IdempotencyStore
from forze.domain.errors import BrokerUnavailable, InvalidInputError
from forze.testing.contracts import (
    CacheContract,
    CounterContract,
    IdempotencyStoreContract,
    recorded_event,
)
from forze_redis import (
    RedisCache,
    RedisCounter,
    RedisIdempotencyStore,
    cached,
    connect,
    invalidate,
)
from tests.redis_support import scratch_client


class _OnRedis:
    """Gives each test a client and a key prefix of its own (deleted afterwards)."""

    client: Redis
    prefix: str

    @pytest.fixture(autouse=True)
    async def _redis(self) -> AsyncIterator[None]:
        async with scratch_client() as (self.client, self.prefix):
            yield


class TestRedisCache(_OnRedis, CacheContract):
    """The contract; time-to-live is the server's (PX), so time passes for real."""

    def make_cache(self) -> Cache:
        return RedisCache(self.client, prefix=self.prefix)

    async def test_values_live_under_the_prefix_only(self) -> None:
        await RedisCache(self.client, prefix=self.prefix).set("k", b"v")
        assert await self.client.get(f"{self.prefix}k") == b"v"
        assert await RedisCache(self.client, prefix=self.prefix + "other:").get("k") is None

    @pytest.mark.parametrize("ttl", [0, -1.5])
    async def test_a_time_to_live_that_is_not_positive_is_rejected(self, ttl: float) -> None:
        with pytest.raises(InvalidInputError):
            await RedisCache(self.client, prefix=self.prefix).set("k", b"v", ttl_seconds=ttl)

    async def test_an_unreachable_cache_is_a_miss_but_a_failed_delete_raises(self) -> None:
        client = connect("redis://127.0.0.1:1/0", timeout_seconds=1.0)
        cache = RedisCache(client)
        try:
            await cache.set("k", b"v")
            assert await cache.get("k") is None
            with pytest.raises(BrokerUnavailable):
                await cache.delete("k")
        finally:
            await client.aclose()


class TestRedisCounter(_OnRedis, CounterContract):
    """The contract (INCRBY is atomic on the server)."""

    def make_counter(self) -> Counter:
        return RedisCounter(self.client, prefix=self.prefix)

    async def test_an_unreachable_counter_raises_broker_unavailable(self) -> None:
        client = connect("redis://127.0.0.1:1/0", timeout_seconds=1.0)
        try:
            with pytest.raises(BrokerUnavailable):
                await RedisCounter(client).increment("k")
        finally:
            await client.aclose()


class TestRedisIdempotencyStore(_OnRedis, IdempotencyStoreContract):
    """The contract; claims expire on the server (SET NX PX), so time passes for real."""

    def make_store(self) -> IdempotencyStore:
        return RedisIdempotencyStore(self.client, prefix=self.prefix)

    async def test_a_result_that_is_not_json_able_is_rejected(self) -> None:
        store = RedisIdempotencyStore(self.client, prefix=self.prefix)
        await store.reserve("k")
        with pytest.raises(InvalidInputError):
            await store.complete("k", {"ratio": float("nan")})
        assert await store.result("k") is None

    async def test_completing_keeps_the_time_left_of_the_claim(self) -> None:
        store = RedisIdempotencyStore(self.client, prefix=self.prefix)
        await store.reserve("k", ttl_seconds=60)
        await store.complete("k", {"done": True})
        assert 0 < await self.client.pttl(f"{self.prefix}k") <= 60_000

    async def test_stores_with_other_prefixes_do_not_share_claims(self) -> None:
        first = RedisIdempotencyStore(self.client, prefix=self.prefix + "a:")
        second = RedisIdempotencyStore(self.client, prefix=self.prefix + "b:")
        assert await first.reserve("k") is True
        assert await second.reserve("k") is True


class TestCacheAside(_OnRedis):
    """``cached`` reads through the Redis cache; ``invalidate`` deletes what events name."""

    async def test_a_miss_loads_and_caches_and_a_hit_does_not_load(self) -> None:
        cache = RedisCache(self.client, prefix=self.prefix)
        loads: list[str] = []

        async def load() -> dict[str, int]:
            loads.append("account-1")
            return {"balance": 10}

        assert await cached(cache, "account:1", 60, load) == {"balance": 10}
        assert await cached(cache, "account:1", 60, load) == {"balance": 10}
        assert loads == ["account-1"]
        assert json.loads(await self.client.get(f"{self.prefix}account:1") or b"") == {
            "balance": 10
        }

    async def test_a_cached_value_is_loaded_again_after_its_time_to_live(self) -> None:
        cache = RedisCache(self.client, prefix=self.prefix)
        values = iter([1, 2])

        async def load() -> int:
            return next(values)

        assert await cached(cache, "n", 0.2, load) == 1
        await self.client.pexpire(f"{self.prefix}n", 1)
        await self.client.delete(f"{self.prefix}n")
        assert await cached(cache, "n", 0.2, load) == 2

    async def test_a_cached_value_that_is_not_json_counts_as_a_miss(self) -> None:
        cache = RedisCache(self.client, prefix=self.prefix)
        await cache.set("k", b"\xff not json")

        async def load() -> str:
            return "fresh"

        assert await cached(cache, "k", None, load) == "fresh"
        assert await cache.get("k") == b'"fresh"'

    async def test_invalidation_deletes_the_keys_the_mapping_names_for_each_event(
        self,
    ) -> None:
        cache = RedisCache(self.client, prefix=self.prefix)
        for key in ("account:1", "account:2", "totals", "unrelated"):
            await cache.set(key, b"{}")
        keys_of = {
            "Something": lambda e: [f"account:{e.stream_id.split('-', 1)[1]}", "totals"],
        }
        events = [recorded_event("account-1", 1), recorded_event("account-1", 2)]
        assert await invalidate(cache, events, keys_of) == 2
        assert await cache.get("account:1") is None
        assert await cache.get("totals") is None
        assert await cache.get("account:2") == b"{}"
        assert await cache.get("unrelated") == b"{}"

    async def test_events_of_types_not_in_the_mapping_invalidate_nothing(self) -> None:
        cache = RedisCache(self.client, prefix=self.prefix)
        await cache.set("account:1", b"{}")
        assert (
            await invalidate(
                cache, [recorded_event("account-1", 1)], {"Other": lambda e: ["account:1"]}
            )
            == 0
        )
        assert await cache.get("account:1") == b"{}"
