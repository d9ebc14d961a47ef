"""The in-memory broker redelivers what a consumer left unsettled, and gives up after
``max_deliveries``, as the real brokers do (Redis ``max_deliveries``, SQS redrive,
RabbitMQ's delivery limit)."""

from __future__ import annotations

from datetime import UTC, datetime

from forze.contracts import Message
from forze_mock import InMemoryBroker


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _message(n: int, key: str) -> Message:
    return Message(
        id=f"m{n}",
        type="Tick",
        source="test",
        subject=key,
        time=datetime.now(UTC),
        data=b"{}",
        destination="ticks",
        ordering_key=key,
    )


async def test_an_unsettled_message_comes_back_after_the_visibility_timeout() -> None:
    clock = _Clock()
    broker = InMemoryBroker(visibility_seconds=5, clock=clock)
    broker.declare("q", "#")
    await broker.publisher().publish([_message(1, "a")])
    subscriber = broker.subscriber("q")

    (first,) = await subscriber.receive(max_messages=10, wait_seconds=0)
    assert await subscriber.receive(max_messages=10, wait_seconds=0) == []
    clock.now = 6
    (again,) = await subscriber.receive(max_messages=10, wait_seconds=0)

    assert (first.message.id, first.attempt) == ("m1", 1)
    assert (again.message.id, again.attempt) == ("m1", 2)


async def test_a_message_never_settled_is_dead_lettered_after_max_deliveries_its_key_goes_on() -> (
    None
):
    clock = _Clock()
    broker = InMemoryBroker(visibility_seconds=5, max_deliveries=2, clock=clock)
    broker.declare("q", "#")
    await broker.publisher().publish([_message(1, "a"), _message(2, "a"), _message(3, "b")])
    subscriber = broker.subscriber("q")

    seen: list[tuple[str, int]] = []
    for _ in range(3):
        deliveries = await subscriber.receive(max_messages=10, wait_seconds=0)
        seen += [(d.message.id, d.attempt) for d in deliveries]
        for delivery in deliveries:
            if delivery.message.id != "m1":
                await delivery.ack()
        clock.now += 6

    assert seen == [("m1", 1), ("m3", 1), ("m1", 2), ("m2", 1)]
    (dead,) = broker.dead_letters("q")
    assert (dead.message.id, dead.attempts) == ("m1", 2)
    assert "2 times" in dead.reason
    assert broker.pending("q") == 0
