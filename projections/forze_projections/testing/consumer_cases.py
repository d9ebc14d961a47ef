"""The cases of the consumer contract (``ConsumerContract`` gives them a ``rig``)."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from uuid import uuid4

from forze import Backoff
from forze.contracts import Message, NewEvent, RecordedEvent, Subscriber
from forze.messaging import ConsumerSettings
from forze.testing.contracts.broker import BrokerUnderTest
from forze_projections.testing.consumer_support import ConsumerRig, LostAcks, Noting
from forze_projections.testing.projector_support import eventually

__all__ = ["ConsumerCases"]

SETTLE_SECONDS = 0.3
"""How long a consumer keeps running after the expected effects, so extra ones would show."""


class ConsumerCases(ABC):
    """Store → relay → broker → consumer → store: effects once and in order, redeliveries,
    poison, undecodable and unknown messages."""

    retries_hold_their_key = True
    """Whether a retried message holds back the later messages of its ordering key until it
    is settled for good (every ordered broker forze ships does)."""
    settings = ConsumerSettings(
        max_attempts=3,
        backoff=Backoff(0.02, 0.1),
        concurrency=4,
        batch_size=10,
        wait_seconds=0.2,
        grace_seconds=2.0,
    )
    """The consumers' settings: three attempts, tiny back-offs, short receives."""

    @abstractmethod
    async def send_malformed(self, broker: BrokerUnderTest) -> None:
        """Put one message on ``broker.destination`` that carries no valid envelope (no
        ``specversion``, say), written with the broker's own client."""

    async def dead_letter_reasons(self, broker: BrokerUnderTest) -> list[str]:
        """The reason of every dead letter of the destination, those that carry no valid
        envelope included (by default ``broker.dead_letters()``'s)."""
        return [reason for _, reason in await broker.dead_letters()]

    async def test_each_relayed_event_is_handled_once_and_its_effect_lands_in_stream_order(
        self, rig: ConsumerRig
    ) -> None:
        streams = [f"order-{n}" for n in range(4)]
        log = await rig.append(streams, 5)
        await rig.relay()
        noting = Noting()
        async with rig.consuming({"Placed": noting}):
            await rig.until_noted(dict.fromkeys(streams, 5))
            await asyncio.sleep(SETTLE_SECONDS)
        for stream in streams:
            _assert_noted(rig, await rig.notes(stream), [1, 2, 3, 4, 5], stream)
        ledgers = [e for stream in streams for e in await rig.ledger(stream)]
        assert sorted(e.metadata["causation_id"] for e in ledgers) == _ids(log)
        assert set(noting.calls) == set(_ids(log))
        assert await rig.broker.dead_letters() == []
        assert await _leftovers(rig.broker.subscribe()) == []

    async def test_a_message_redelivered_after_its_unit_committed_but_before_its_ack_applies_once(
        self, rig: ConsumerRig
    ) -> None:
        streams = ["order-1", "order-2"]
        log = await rig.append(streams, 3)
        await rig.relay()
        noting = Noting()
        wrappers: list[LostAcks] = []

        def losing(subscriber: Subscriber) -> Subscriber:
            wrappers.append(LostAcks(subscriber))
            return wrappers[-1]

        async def each_handled_twice() -> bool:
            return all(noting.count(i) >= 2 for i in _ids(log))

        async with rig.consuming({"Placed": noting}, wrap=losing):
            await eventually(each_handled_twice, "every message handled twice", 30)
            await asyncio.sleep(SETTLE_SECONDS)
        assert sorted(wrappers[0].lost) == _ids(log)
        for stream in streams:
            _assert_noted(rig, await rig.notes(stream), [1, 2, 3], stream)
        assert await rig.broker.dead_letters() == []
        assert await _leftovers(rig.broker.subscribe()) == []

    async def test_a_poison_message_ends_dead_lettered_with_its_error_and_the_rest_is_still_handled(
        self, rig: ConsumerRig
    ) -> None:
        log = await rig.append(["order-1", "order-2"], 4)
        poison = _event(log, "order-1", 2)
        after = _event(log, "order-1", 3)
        await rig.relay()
        noting = Noting(poison=[str(poison.event_id)])
        async with rig.consuming({"Placed": noting}):
            dead = await rig.until_dead(1)
            await rig.until_noted({"order-1": 3, "order-2": 4})
            await asyncio.sleep(SETTLE_SECONDS)
        assert [(m.id, reason) for m, reason in await rig.broker.dead_letters()] == [
            (str(poison.event_id), f"ValueError: cannot digest {poison.event_id}")
        ]
        assert dead[0][0].subject == "order-1"
        assert noting.count(str(poison.event_id)) == self.settings.max_attempts, noting.calls
        _assert_noted(rig, await rig.notes("order-1"), [1, 3, 4], "order-1")
        _assert_noted(rig, await rig.notes("order-2"), [1, 2, 3, 4], "order-2")
        if rig.broker.ordered and self.retries_hold_their_key:
            last_try = max(i for i, c in enumerate(noting.calls) if c == str(poison.event_id))
            assert noting.calls.index(str(after.event_id)) > last_try, noting.calls
        assert await _leftovers(rig.broker.subscribe()) == []

    async def test_an_undecodable_message_is_dead_lettered_at_once_without_calling_the_handler(
        self, rig: ConsumerRig
    ) -> None:
        first = await rig.append(["order-1"], 1)
        await rig.relay()
        await self.send_malformed(rig.broker)
        not_json = _message(rig.broker, "order-1", b"{not json")
        await rig.broker.publisher.publish([not_json])
        await rig.events.append("order-1", [NewEvent("Placed", {"stream": "order-1", "n": 2})])
        await rig.relay()
        log = await rig.log()
        assert len(log) == len(first) + 1
        noting = Noting()

        async def both_dead() -> bool:
            return len(await self.dead_letter_reasons(rig.broker)) >= 2

        async with rig.consuming({"Placed": noting}):
            await rig.until_noted({"order-1": 2})
            await eventually(both_dead, "both undecodable messages dead-lettered", 30)
            await asyncio.sleep(SETTLE_SECONDS)
        assert sorted(noting.calls) == _ids(log)
        _assert_noted(rig, await rig.notes("order-1"), [1, 2], "order-1")
        reasons = await self.dead_letter_reasons(rig.broker)
        assert len(reasons) == 2, reasons
        assert all(reasons), reasons
        (body,) = [r for r in reasons if not_json.id in r]
        assert body.startswith(f"MalformedMessage: message {not_json.id!r}: data is not JSON: ")
        assert await _leftovers(rig.broker.subscribe()) == []

    async def test_a_message_of_a_type_without_a_handler_is_dead_lettered_at_once_naming_the_type(
        self, rig: ConsumerRig
    ) -> None:
        await rig.events.append("order-1", [NewEvent("Placed", {"stream": "order-1", "n": 1})])
        await rig.events.append("order-1", [NewEvent("Refunded", {"stream": "order-1", "n": 2})])
        await rig.events.append("order-1", [NewEvent("Placed", {"stream": "order-1", "n": 3})])
        log = await rig.log()
        await rig.relay()
        noting = Noting()
        async with rig.consuming({"Placed": noting}):
            dead = await rig.until_dead(1)
            await rig.until_noted({"order-1": 2})
            await asyncio.sleep(SETTLE_SECONDS)
        refunded = _event(log, "order-1", 2)
        assert [(m.id, m.type, reason) for m, reason in dead] == [
            (
                str(refunded.event_id),
                "Refunded",
                f"MalformedMessage: message {str(refunded.event_id)!r}:"
                " no handler for type 'Refunded'",
            )
        ]
        assert str(refunded.event_id) not in noting.calls
        _assert_noted(rig, await rig.notes("order-1"), [1, 3], "order-1")
        assert await _leftovers(rig.broker.subscribe()) == []


def _ids(events: list[RecordedEvent]) -> list[str]:
    return sorted(str(e.event_id) for e in events)


def _event(log: list[RecordedEvent], stream: str, version: int) -> RecordedEvent:
    return next(e for e in log if e.stream_id == stream and e.version == version)


def _assert_noted(rig: ConsumerRig, notes: list[int], expected: list[int], stream: str) -> None:
    """Each number once; in order where the broker keeps the order of a key."""
    assert (notes if rig.broker.ordered else sorted(notes)) == expected, (stream, notes)


def _message(broker: BrokerUnderTest, key: str, data: bytes) -> Message:
    return Message(
        id=str(uuid4()),
        type="Placed",
        source="forze://contract",
        subject=key,
        time=datetime.now(UTC),
        data=data,
        destination=broker.destination,
        ordering_key=key,
    )


async def _leftovers(subscriber: Subscriber) -> list[str]:
    """What a new subscriber still receives (every message settled: nothing); closes it."""
    try:
        got = await subscriber.receive(max_messages=10, wait_seconds=0.3)
        return [delivery.message.id for delivery in got]
    finally:
        await subscriber.close()
