"""The in-memory idempotency store, recording publisher and saga runner pass their suites."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from forze.contracts import IdempotencyStore, RecordedEvent, SagaRunner
from forze.domain.errors import InvalidInputError, WiringError
from forze.testing.contracts import (
    IdempotencyStoreContract,
    ManualClock,
    PublisherContract,
    SagaHandler,
    SagaRunnerContract,
    recorded_event,
)
from forze_mock.memory_messaging import (
    InMemoryIdempotencyStore,
    InProcessSagaRunner,
    RecordingPublisher,
)


class TestInMemoryIdempotencyStore(IdempotencyStoreContract):
    """The contract on a manual clock, plus the store's input checks."""

    def make_store(self) -> IdempotencyStore:
        self.clock = ManualClock()
        return InMemoryIdempotencyStore(clock=self.clock)

    async def let_time_pass(self, seconds: float) -> None:
        self.clock.advance(seconds)

    async def test_a_result_that_is_not_json_able_is_rejected(self) -> None:
        store = InMemoryIdempotencyStore()
        await store.reserve("k")
        with pytest.raises(InvalidInputError):
            await store.complete("k", {"when": object()})
        with pytest.raises(InvalidInputError):
            await store.complete("k", {"ratio": float("nan")})
        assert await store.result("k") is None

    async def test_each_result_read_is_a_fresh_copy(self) -> None:
        store = InMemoryIdempotencyStore()
        await store.complete("k", {"items": [1]})
        first = await store.result("k")
        assert isinstance(first, dict)
        first["items"].append(2)
        assert await store.result("k") == {"items": [1]}

    async def test_completing_a_key_never_reserved_claims_it(self) -> None:
        store = InMemoryIdempotencyStore()
        await store.complete("k", {"done": True})
        assert await store.reserve("k") is False
        assert await store.result("k") == {"done": True}

    async def test_a_time_to_live_that_is_not_positive_is_rejected(self) -> None:
        store = InMemoryIdempotencyStore()
        with pytest.raises(InvalidInputError):
            await store.reserve("k", ttl_seconds=0)
        assert await store.reserve("k") is True


class TestRecordingPublisher(PublisherContract[RecordingPublisher]):
    """The contract, reading back the ``published`` list."""

    def make_publisher(self) -> RecordingPublisher:
        return RecordingPublisher()

    async def delivered(self, publisher: RecordingPublisher) -> list[RecordedEvent]:
        return list(publisher.published)

    async def test_published_keeps_every_event_in_call_order_until_cleared(self) -> None:
        publisher = RecordingPublisher()
        events = [recorded_event("order-1", v) for v in (1, 2, 3)]
        await publisher(events[:1])
        await publisher(events[1:])
        assert publisher.published == events
        publisher.clear()
        assert publisher.published == []


class TestInProcessSagaRunner(SagaRunnerContract):
    """The contract, plus registration, started instances and handler failures."""

    def make_runner(self, handlers: Mapping[str, SagaHandler]) -> SagaRunner:
        runner = InProcessSagaRunner()
        for saga, handler in handlers.items():
            runner.register(saga, handler)
        return runner

    async def test_registering_a_saga_twice_raises_wiring_error(self) -> None:
        runner = InProcessSagaRunner()
        runner.register("shipping", self.recording([], "shipping"))
        with pytest.raises(WiringError, match="already registered"):
            runner.register("shipping", self.recording([], "shipping"))

    async def test_instances_lists_started_keys_in_start_order(self) -> None:
        runner = InProcessSagaRunner()
        runner.register("shipping", self.recording([], "shipping"))
        assert runner.instances("shipping") == []
        for key in ("order-2", "order-1", "order-2"):
            await runner.deliver("shipping", key, recorded_event(key, 1))
        assert runner.instances("shipping") == ["order-2", "order-1"]
        with pytest.raises(WiringError):
            runner.instances("billing")

    async def test_a_failed_event_is_handled_again_when_redelivered(self) -> None:
        attempts: list[str] = []

        async def flaky(key: str, event: RecordedEvent) -> None:
            attempts.append(key)
            if len(attempts) == 1:
                raise RuntimeError("transient")

        runner = InProcessSagaRunner()
        runner.register("shipping", flaky)
        event = recorded_event("order-1", 1)
        with pytest.raises(RuntimeError, match="transient"):
            await runner.deliver("shipping", "order-1", event)
        await runner.deliver("shipping", "order-1", event)
        await runner.deliver("shipping", "order-1", event)
        assert attempts == ["order-1", "order-1"]
