"""Contract suites for the key-value ports: Cache, Counter and ObjectStorage.

An adapter's test module subclasses a suite as ``Test<Adapter>`` and implements its factory::

    class TestRedisCache(CacheContract):
        def make_cache(self) -> Cache:
            return RedisCache(self.client)

Suites whose port has a time-to-live call :meth:`CacheContract.let_time_pass`, which sleeps for
real by default; an adapter built on an injectable clock overrides it to advance a
:class:`ManualClock` instead.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from typing import cast

import pytest

from forze.contracts import Cache, Counter, ObjectStorage
from forze.domain.errors import NotFoundError

__all__ = ["CacheContract", "CounterContract", "ManualClock", "ObjectStorageContract"]

TTL = 1.0
"""The time-to-live the suites use, in seconds."""


class ManualClock:
    """A clock for tests that only moves when :meth:`advance` is called."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        """The current reading, in seconds."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (never backwards)."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back ({seconds} seconds)")
        self.now += seconds


class CacheContract(ABC):
    """Behaviour every :class:`forze.contracts.Cache` adapter has."""

    @abstractmethod
    def make_cache(self) -> Cache:
        """A new, empty cache."""

    async def let_time_pass(self, seconds: float) -> None:
        """Let ``seconds`` pass for the cache made by :meth:`make_cache` (sleeps by default)."""
        await asyncio.sleep(seconds)

    @pytest.fixture
    def cache(self) -> Cache:
        """The cache under test."""
        return self.make_cache()

    async def test_a_value_set_is_read_back(self, cache: Cache) -> None:
        await cache.set("greeting", b"hello")
        assert await cache.get("greeting") == b"hello"

    async def test_a_key_never_set_is_a_miss(self, cache: Cache) -> None:
        assert await cache.get("missing") is None

    async def test_an_empty_value_is_a_value_not_a_miss(self, cache: Cache) -> None:
        await cache.set("empty", b"")
        assert await cache.get("empty") == b""

    async def test_setting_a_key_again_replaces_its_value(self, cache: Cache) -> None:
        await cache.set("k", b"one")
        await cache.set("k", b"two")
        assert await cache.get("k") == b"two"

    async def test_keys_are_independent(self, cache: Cache) -> None:
        await cache.set("a", b"1")
        await cache.set("b", b"2")
        assert await cache.delete("a")
        assert await cache.get("a") is None
        assert await cache.get("b") == b"2"

    async def test_deleting_a_cached_key_forgets_it_and_returns_true(self, cache: Cache) -> None:
        await cache.set("k", b"v")
        assert await cache.delete("k") is True
        assert await cache.get("k") is None

    async def test_deleting_a_key_never_set_returns_false(self, cache: Cache) -> None:
        assert await cache.delete("missing") is False

    async def test_a_value_is_kept_until_its_time_to_live_ends(self, cache: Cache) -> None:
        await cache.set("k", b"v", ttl_seconds=TTL)
        await self.let_time_pass(TTL / 4)
        assert await cache.get("k") == b"v"

    async def test_a_value_expires_after_its_time_to_live(self, cache: Cache) -> None:
        await cache.set("k", b"v", ttl_seconds=TTL)
        await self.let_time_pass(TTL * 1.2)
        assert await cache.get("k") is None
        assert await cache.delete("k") is False

    async def test_a_value_without_time_to_live_does_not_expire(self, cache: Cache) -> None:
        await cache.set("k", b"v", ttl_seconds=TTL)
        await cache.set("k", b"v2")
        await self.let_time_pass(TTL * 1.2)
        assert await cache.get("k") == b"v2"


class CounterContract(ABC):
    """Behaviour every :class:`forze.contracts.Counter` adapter has."""

    @abstractmethod
    def make_counter(self) -> Counter:
        """A new counter store in which every counter is 0."""

    @pytest.fixture
    def counter(self) -> Counter:
        """The counter store under test."""
        return self.make_counter()

    async def test_a_counter_never_incremented_is_zero(self, counter: Counter) -> None:
        assert await counter.get("visits") == 0

    async def test_increment_adds_one_by_default_and_returns_the_new_value(
        self, counter: Counter
    ) -> None:
        assert await counter.increment("visits") == 1
        assert await counter.increment("visits") == 2
        assert await counter.get("visits") == 2

    async def test_increment_adds_any_amount_including_negative_ones(
        self, counter: Counter
    ) -> None:
        assert await counter.increment("stock", 10) == 10
        assert await counter.increment("stock", -3) == 7

    async def test_concurrent_increments_are_never_lost(self, counter: Counter) -> None:
        results = await asyncio.gather(*(counter.increment("hits") for _ in range(200)))
        assert sorted(results) == list(range(1, 201))
        assert await counter.get("hits") == 200

    async def test_reset_sets_a_counter_back_to_zero(self, counter: Counter) -> None:
        await counter.increment("visits", 5)
        await counter.reset("visits")
        assert await counter.get("visits") == 0
        assert await counter.increment("visits") == 1

    async def test_resetting_a_counter_never_incremented_is_harmless(
        self, counter: Counter
    ) -> None:
        await counter.reset("never")
        assert await counter.get("never") == 0

    async def test_counters_are_independent(self, counter: Counter) -> None:
        await counter.increment("a", 3)
        await counter.increment("b")
        await counter.reset("b")
        assert await counter.get("a") == 3


class ObjectStorageContract(ABC):
    """Behaviour every :class:`forze.contracts.ObjectStorage` adapter has."""

    @abstractmethod
    def make_storage(self) -> ObjectStorage:
        """A new, empty object storage."""

    @pytest.fixture
    def storage(self) -> ObjectStorage:
        """The object storage under test."""
        return self.make_storage()

    async def test_a_stored_object_is_read_back(self, storage: ObjectStorage) -> None:
        await storage.put("exports/a.json", b'{"a": 1}', content_type="application/json")
        assert await storage.get("exports/a.json") == b'{"a": 1}'

    async def test_an_empty_object_is_an_object(self, storage: ObjectStorage) -> None:
        await storage.put("empty", b"")
        assert await storage.get("empty") == b""
        assert await storage.list() == ["empty"]

    async def test_put_replaces_the_whole_object(self, storage: ObjectStorage) -> None:
        await storage.put("k", b"a long first version")
        await storage.put("k", b"short")
        assert await storage.get("k") == b"short"

    async def test_getting_a_missing_object_raises_not_found(self, storage: ObjectStorage) -> None:
        with pytest.raises(NotFoundError):
            await storage.get("missing")

    async def test_a_stored_object_does_not_change_with_the_callers_buffer(
        self, storage: ObjectStorage
    ) -> None:
        buffer = bytearray(b"original")
        await storage.put("k", cast(bytes, buffer))
        buffer[:] = b"changed!"
        assert await storage.get("k") == b"original"

    async def test_delete_removes_an_object_and_returns_whether_it_existed(
        self, storage: ObjectStorage
    ) -> None:
        await storage.put("k", b"v")
        assert await storage.delete("k") is True
        assert await storage.delete("k") is False
        with pytest.raises(NotFoundError):
            await storage.get("k")

    async def test_list_returns_every_key_in_lexicographic_order(
        self, storage: ObjectStorage
    ) -> None:
        for key in ["b/2", "a/1", "b/10", "a", "c"]:
            await storage.put(key, b"x")
        assert await storage.list() == ["a", "a/1", "b/10", "b/2", "c"]

    async def test_list_with_a_prefix_returns_only_keys_starting_with_it(
        self, storage: ObjectStorage
    ) -> None:
        for key in ["exports/2024/a", "exports/2023/b", "archive/exports/c", "exportsx"]:
            await storage.put(key, b"x")
        assert await storage.list("exports/") == ["exports/2023/b", "exports/2024/a"]
        assert await storage.list("nothing/") == []
