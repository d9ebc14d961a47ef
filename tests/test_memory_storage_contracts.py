"""The in-memory cache, counters and object storage pass the storage contract suites."""

from __future__ import annotations

import pytest

from forze.contracts import Cache, Counter, ObjectStorage
from forze.domain.errors import InvalidInputError, NotFoundError
from forze.testing.contracts import (
    CacheContract,
    CounterContract,
    ManualClock,
    ObjectStorageContract,
)
from forze_mock.memory_storage import InMemoryCache, InMemoryCounter, InMemoryObjectStorage


class TestInMemoryCache(CacheContract):
    """The contract, on a manual clock so that no test sleeps."""

    def make_cache(self) -> Cache:
        self.clock = ManualClock()
        return InMemoryCache(clock=self.clock)

    async def let_time_pass(self, seconds: float) -> None:
        self.clock.advance(seconds)

    async def test_a_value_expires_exactly_when_its_time_to_live_ends(self) -> None:
        clock = ManualClock()
        cache = InMemoryCache(clock=clock)
        await cache.set("k", b"v", ttl_seconds=10)
        clock.advance(9.999)
        assert await cache.get("k") == b"v"
        clock.advance(0.001)
        assert await cache.get("k") is None

    @pytest.mark.parametrize("ttl", [0, -1.5])
    async def test_a_time_to_live_that_is_not_positive_is_rejected(self, ttl: float) -> None:
        cache = InMemoryCache()
        with pytest.raises(InvalidInputError):
            await cache.set("k", b"v", ttl_seconds=ttl)
        assert await cache.get("k") is None

    async def test_it_uses_the_monotonic_clock_by_default(self) -> None:
        cache = InMemoryCache()
        await cache.set("k", b"v", ttl_seconds=3600)
        assert await cache.get("k") == b"v"


class TestInMemoryCounter(CounterContract):
    """The contract."""

    def make_counter(self) -> Counter:
        return InMemoryCounter()


class TestInMemoryObjectStorage(ObjectStorageContract):
    """The contract, plus the content type the in-memory storage keeps."""

    def make_storage(self) -> ObjectStorage:
        return InMemoryObjectStorage()

    async def test_the_content_type_is_kept_with_the_object(self) -> None:
        storage = InMemoryObjectStorage()
        await storage.put("a.json", b"{}", content_type="application/json")
        await storage.put("b.bin", b"\x00")
        assert storage.content_type_of("a.json") == "application/json"
        assert storage.content_type_of("b.bin") == "application/octet-stream"
        with pytest.raises(NotFoundError):
            storage.content_type_of("missing")


def test_a_manual_clock_moves_only_forward() -> None:
    clock = ManualClock(5.0)
    clock.advance(2.5)
    assert clock() == 7.5
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(-1)
