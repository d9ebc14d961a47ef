"""The contract suite for :class:`IdempotencyStore` (brokers: ``broker``; sagas:
``forze_projections.testing.sagas``).

An adapter's test module subclasses a suite as ``Test<Adapter>`` and implements its abstract
factory methods. Hooks with a default (``let_time_pass``, ``wait_until_handled``) suit
in-process adapters; adapters with a clock or a remote worker override them.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from forze.contracts import IdempotencyStore, RecordedEvent

__all__ = ["IdempotencyStoreContract", "recorded_event"]

TTL = 1.0
"""The time-to-live the idempotency suite uses, in seconds."""


def recorded_event(
    stream_id: str, version: int, *, position: int | None = None, event_id: UUID | None = None
) -> RecordedEvent:
    """A recorded event for tests; its position defaults to its version."""
    return RecordedEvent(
        event_id=event_id or uuid4(),
        event_type="Something",
        data={"version": version},
        metadata={},
        stream_id=stream_id,
        version=version,
        position=version if position is None else position,
        recorded_at=datetime(2024, 1, 1, tzinfo=UTC),
    )


class IdempotencyStoreContract(ABC):
    """Behaviour every :class:`forze.contracts.IdempotencyStore` adapter has."""

    @abstractmethod
    def make_store(self) -> IdempotencyStore:
        """A new store in which no key is reserved."""

    async def let_time_pass(self, seconds: float) -> None:
        """Let ``seconds`` pass for the store made by :meth:`make_store` (sleeps by default)."""
        await asyncio.sleep(seconds)

    @pytest.fixture
    def store(self) -> IdempotencyStore:
        """The idempotency store under test."""
        return self.make_store()

    async def test_the_first_reserve_of_a_key_wins_and_later_ones_lose(
        self, store: IdempotencyStore
    ) -> None:
        assert await store.reserve("event-1") is True
        assert await store.reserve("event-1") is False

    async def test_of_concurrent_reserves_of_one_key_exactly_one_wins(
        self, store: IdempotencyStore
    ) -> None:
        outcomes = await asyncio.gather(*(store.reserve("k", ttl_seconds=60) for _ in range(50)))
        assert outcomes.count(True) == 1

    async def test_keys_are_independent(self, store: IdempotencyStore) -> None:
        assert await store.reserve("a")
        assert await store.reserve("b")
        await store.release("a")
        assert await store.reserve("b") is False

    async def test_an_unknown_key_has_no_result(self, store: IdempotencyStore) -> None:
        assert await store.result("unknown") is None

    async def test_a_reserved_key_has_no_result_until_completed(
        self, store: IdempotencyStore
    ) -> None:
        await store.reserve("k")
        assert await store.result("k") is None

    async def test_a_completed_key_keeps_its_result_and_stays_claimed(
        self, store: IdempotencyStore
    ) -> None:
        result = {"status": 201, "body": {"id": "42", "tags": ["a", "b"]}, "ok": True}
        await store.reserve("k")
        await store.complete("k", result)
        assert await store.result("k") == result
        assert await store.reserve("k") is False

    async def test_a_released_key_can_be_reserved_again(self, store: IdempotencyStore) -> None:
        await store.reserve("k")
        await store.release("k")
        assert await store.reserve("k") is True

    async def test_releasing_a_key_never_reserved_is_harmless(
        self, store: IdempotencyStore
    ) -> None:
        await store.release("never")
        assert await store.reserve("never") is True

    async def test_a_reservation_lasts_until_its_time_to_live_ends(
        self, store: IdempotencyStore
    ) -> None:
        await store.reserve("k", ttl_seconds=TTL)
        await self.let_time_pass(TTL / 4)
        assert await store.reserve("k", ttl_seconds=TTL) is False

    async def test_a_reservation_expires_after_its_time_to_live(
        self, store: IdempotencyStore
    ) -> None:
        await store.reserve("k", ttl_seconds=TTL)
        await self.let_time_pass(TTL * 1.2)
        assert await store.reserve("k") is True

    async def test_a_completed_result_expires_with_its_time_to_live(
        self, store: IdempotencyStore
    ) -> None:
        await store.reserve("k", ttl_seconds=TTL)
        await store.complete("k", {"done": True})
        await self.let_time_pass(TTL / 4)
        assert await store.result("k") == {"done": True}
        await self.let_time_pass(TTL)
        assert await store.result("k") is None

    async def test_a_key_without_time_to_live_does_not_expire(
        self, store: IdempotencyStore
    ) -> None:
        await store.reserve("k")
        await store.complete("k", {"done": True})
        await self.let_time_pass(TTL * 1.2)
        assert await store.result("k") == {"done": True}
        assert await store.reserve("k") is False
