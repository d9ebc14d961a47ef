"""Contract suites for :class:`IdempotencyStore` and :class:`SagaRunner` (brokers: ``broker``).

An adapter's test module subclasses a suite as ``Test<Adapter>`` and implements its abstract
factory methods. Hooks with a default (``let_time_pass``, ``wait_until_handled``) suit
in-process adapters; adapters with a clock or a remote worker override them.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from forze.contracts import IdempotencyStore, RecordedEvent, SagaRunner
from forze.domain.errors import WiringError

__all__ = [
    "IdempotencyStoreContract",
    "SagaHandler",
    "SagaRunnerContract",
    "recorded_event",
]

TTL = 1.0
"""The time-to-live the idempotency suite uses, in seconds."""

SagaHandler = Callable[[str, RecordedEvent], Awaitable[None]]
"""Handles one event for the saga instance whose key is the first argument."""


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


class SagaRunnerContract(ABC):
    """Behaviour every :class:`forze.contracts.SagaRunner` adapter has.

    :meth:`make_runner` receives one handler per saga name; the adapter must run a saga's
    handler with the instance key and event for each effective delivery.
    """

    @abstractmethod
    def make_runner(self, handlers: Mapping[str, SagaHandler]) -> SagaRunner:
        """A new runner on which exactly the sagas in ``handlers`` are registered."""

    async def wait_until_handled(self, runner: SagaRunner) -> None:
        """Wait until ``runner`` has handled every delivery so far (in-process: at once)."""
        await asyncio.sleep(0)

    def recording(self, log: list[tuple[str, str, UUID]], saga: str) -> SagaHandler:
        """A handler appending ``(saga, key, event_id)`` to ``log`` for each handled event."""

        async def handle(key: str, event: RecordedEvent) -> None:
            log.append((saga, key, event.event_id))

        return handle

    async def test_an_instance_handles_the_events_delivered_to_it_in_order(self) -> None:
        log: list[tuple[str, str, UUID]] = []
        runner = self.make_runner({"shipping": self.recording(log, "shipping")})
        events = [recorded_event("order-1", v) for v in (1, 2, 3)]
        for event in events:
            await runner.deliver("shipping", "order-1", event)
        await self.wait_until_handled(runner)
        assert log == [("shipping", "order-1", event.event_id) for event in events]

    async def test_redelivering_an_event_to_an_instance_has_no_further_effect(self) -> None:
        log: list[tuple[str, str, UUID]] = []
        runner = self.make_runner({"shipping": self.recording(log, "shipping")})
        first, second = recorded_event("order-1", 1), recorded_event("order-1", 2)
        for event in (first, first, second, first, second):
            await runner.deliver("shipping", "order-1", event)
        await self.wait_until_handled(runner)
        assert [event_id for _, _, event_id in log] == [first.event_id, second.event_id]

    async def test_concurrent_duplicate_deliveries_are_handled_once(self) -> None:
        log: list[tuple[str, str, UUID]] = []
        recorder = self.recording(log, "shipping")

        async def slow(key: str, event: RecordedEvent) -> None:
            await asyncio.sleep(0.01)
            await recorder(key, event)

        runner = self.make_runner({"shipping": slow})
        event = recorded_event("order-1", 1)
        await asyncio.gather(*(runner.deliver("shipping", "order-1", event) for _ in range(10)))
        await self.wait_until_handled(runner)
        assert log == [("shipping", "order-1", event.event_id)]

    async def test_one_event_delivered_to_several_instances_reaches_each(self) -> None:
        log: list[tuple[str, str, UUID]] = []
        runner = self.make_runner({"shipping": self.recording(log, "shipping")})
        event = recorded_event("order-1", 1)
        await runner.deliver("shipping", "order-1", event)
        await runner.deliver("shipping", "order-2", event)
        await self.wait_until_handled(runner)
        assert sorted(key for _, key, _ in log) == ["order-1", "order-2"]

    async def test_sagas_sharing_a_key_are_different_instances(self) -> None:
        log: list[tuple[str, str, UUID]] = []
        runner = self.make_runner(
            {"shipping": self.recording(log, "shipping"), "billing": self.recording(log, "billing")}
        )
        event = recorded_event("order-1", 1)
        await runner.deliver("shipping", "order-1", event)
        await runner.deliver("billing", "order-1", event)
        await self.wait_until_handled(runner)
        assert sorted(saga for saga, _, _ in log) == ["billing", "shipping"]

    async def test_instances_of_one_saga_run_independently(self) -> None:
        b_handled = asyncio.Event()

        async def handle(key: str, event: RecordedEvent) -> None:
            if key == "a":
                await b_handled.wait()
            else:
                b_handled.set()

        runner = self.make_runner({"shipping": handle})
        async with asyncio.timeout(5):
            await asyncio.gather(
                runner.deliver("shipping", "a", recorded_event("order-a", 1)),
                runner.deliver("shipping", "b", recorded_event("order-b", 1)),
            )
            await self.wait_until_handled(runner)
        assert b_handled.is_set()

    async def test_delivering_to_a_saga_that_is_not_registered_raises_wiring_error(
        self,
    ) -> None:
        runner = self.make_runner({"shipping": self.recording([], "shipping")})
        with pytest.raises(WiringError):
            await runner.deliver("billing", "order-1", recorded_event("order-1", 1))
