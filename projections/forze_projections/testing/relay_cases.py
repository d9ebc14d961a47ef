"""The cases of the relay contract (``RelayContract`` gives them a ``rig``)."""

from __future__ import annotations

import pytest

from forze.contracts import NewEvent
from forze_projections.relay import RelayFailed
from forze_projections.status import FailurePolicy, ProjectionState
from forze_projections.testing.projector_support import eventually
from forze_projections.testing.relay_support import (
    FlakyPublisher,
    RelayRig,
    append_interleaved,
    envelope_matches,
    recorded,
)

__all__ = ["RelayCases"]


class RelayCases:
    """Store → relay → broker: envelope, order, filters, refusals, outages, leases, replay."""

    async def test_each_event_is_published_once_in_its_envelope_and_the_checkpoint_reaches_the_head(
        self, rig: RelayRig
    ) -> None:
        await append_interleaved(rig.events, ["order-1", "order-2", "order-3"], 3)
        await rig.events.append(
            "order-4",
            [NewEvent("Paid", {"amount": 12}, metadata={"correlation_id": "c-1", "tenant": "t"})],
        )
        status = await rig.relay().catch_up()
        log = await recorded(rig.events)
        assert (status.checkpoint, status.head, status.lag_events) == (10, 10, 0)
        assert (status.published, status.refused, status.stalled) == (10, 0, False)
        arrivals = rig.arrivals()
        await arrivals.until([str(e.event_id) for e in log])
        assert await arrivals.more() == []
        assert arrivals.duplicates == 0
        by_id = {m.id: m for m in arrivals.messages}
        for event in log:
            message = by_id[str(event.event_id)]
            assert envelope_matches(message, event), message
            assert message.source == "forze://contract"
        paid = by_id[str(log[-1].event_id)]
        assert (paid.extensions["correlationid"], paid.extensions["tenant"]) == ("c-1", "t")

    async def test_each_streams_events_arrive_in_version_order_though_lanes_publish_at_once(
        self, rig: RelayRig
    ) -> None:
        streams = [f"order-{n}" for n in range(8)]
        await append_interleaved(rig.events, streams, 6)
        status = await rig.relay(batch_size=15).catch_up()
        assert status.checkpoint == status.head == 48
        arrivals = rig.arrivals()
        await arrivals.until([str(e.event_id) for e in await recorded(rig.events)])
        if rig.broker.ordered:
            for stream in streams:
                assert arrivals.first_versions(stream) == [1, 2, 3, 4, 5, 6], stream

    async def test_only_the_categories_asked_for_are_published_and_the_checkpoint_reaches_the_head(
        self, rig: RelayRig
    ) -> None:
        await append_interleaved(rig.events, ["order-1", "invoice-1", "order-2", "invoice-2"], 3)
        status = await rig.relay(categories=["order"]).catch_up()
        assert status.checkpoint == status.head == 12
        orders = await recorded(rig.events, categories=["order"])
        arrivals = rig.arrivals()
        await arrivals.until([str(e.event_id) for e in orders])
        assert await arrivals.more() == []
        assert {m.subject for m in arrivals.messages} == {"order-1", "order-2"}
        assert len(arrivals.messages) == len(orders) == 6

    async def test_only_the_event_types_asked_for_are_published_and_the_checkpoint_reaches_the_head(
        self, rig: RelayRig
    ) -> None:
        for n in range(1, 4):
            await rig.events.append(f"order-{n}", [NewEvent("Placed", {"n": n})])
            await rig.events.append(f"order-{n}", [NewEvent("Noted", {"n": n})])
        status = await rig.relay(event_types=["Placed"]).catch_up()
        assert status.checkpoint == status.head == 6
        placed = await recorded(rig.events, event_types=["Placed"])
        arrivals = rig.arrivals()
        await arrivals.until([str(e.event_id) for e in placed])
        assert await arrivals.more() == []
        assert [m.type for m in arrivals.messages] == ["Placed"] * 3

    async def test_a_message_the_broker_refuses_is_recorded_and_later_events_of_every_stream_arrive(
        self, rig: RelayRig
    ) -> None:
        big = await self._append_with_one_too_big(rig)
        relay = rig.relay()
        status = await relay.catch_up()
        assert (status.checkpoint, status.head, status.refused, status.published) == (8, 8, 1, 7)
        (failure,) = await relay.failures()
        assert (failure.position, failure.stream_id) == (big, "order-1")
        assert "refused" in failure.error
        assert (status.last_error or "").startswith("skipped: ")
        rest = [e for e in await recorded(rig.events) if e.position != big]
        arrivals = rig.arrivals()
        await arrivals.until([str(e.event_id) for e in rest])
        assert await arrivals.more() == []
        if rig.broker.ordered:
            assert arrivals.first_versions("order-1") == [1, 2, 4]
            assert arrivals.first_versions("order-2") == [1, 2, 3, 4]

    async def test_with_the_stop_policy_a_refused_message_fails_the_relay_before_that_event(
        self, rig: RelayRig
    ) -> None:
        big = await self._append_with_one_too_big(rig)
        relay = rig.relay(policy=FailurePolicy(on_error="stop"), batch_size=2)
        with pytest.raises(RelayFailed) as stopped:
            await relay.catch_up()
        assert stopped.value.event.position == big
        status = await relay.status()
        assert status.state is ProjectionState.FAILED
        assert status.error is not None
        assert "refused" in status.error
        assert status.checkpoint < big
        assert [f.position for f in await relay.failures()] == [big]

    async def test_a_publisher_failing_for_a_while_is_retried_and_every_event_arrives_in_order(
        self, rig: RelayRig
    ) -> None:
        streams = [f"order-{n}" for n in range(6)]
        flaky = FlakyPublisher(rig.broker.publisher, failures=4)
        await append_interleaved(rig.events, streams, 3)
        async with rig.relay(publisher=flaky) as relay:
            await append_interleaved(rig.events, streams, 2, event_type="Paid")
            head = await rig.events.head_position()
            await relay.wait_until(head, timeout=20)
        log = await recorded(rig.events)
        assert flaky.failed == 4
        assert set(flaky.accepted) == {str(e.event_id) for e in log}
        arrivals = rig.arrivals()
        if rig.deduplicates:
            await arrivals.until(set(flaky.accepted))
        else:  # every message the broker confirmed arrives (a publish cancelled by a failing
            # lane may have been accepted unconfirmed too: those arrive as well)
            await arrivals.until_count(len(flaky.accepted))
        await arrivals.drain()
        assert arrivals.ids == {str(e.event_id) for e in log}
        print(f"{len(log)} events, {arrivals.duplicates} duplicates after {flaky.failed} outages")
        if rig.broker.ordered:
            for stream in streams:
                assert arrivals.first_versions(stream) == [1, 2, 3, 4, 5], stream

    async def test_a_running_relay_publishes_new_events_and_shows_itself_live(
        self, rig: RelayRig
    ) -> None:
        arrivals = rig.arrivals()
        async with rig.relay() as relay:
            appended = await rig.events.append(
                "order-1", [NewEvent("Placed", {"n": n}) for n in range(3)]
            )
            await relay.wait_until(appended.position, timeout=10)
            await arrivals.until([str(e.event_id) for e in await recorded(rig.events)])

            async def live() -> bool:
                return (await relay.status()).state is ProjectionState.LIVE

            await eventually(live, "the relay is live")
            status = await relay.status()
            assert (status.holder, status.checkpoint, status.lag_events) == ("relay-a", 3, 0)
            assert not status.stalled
        assert (await relay.status()).state is ProjectionState.STOPPED

    async def test_of_two_relays_of_one_name_one_publishes_and_the_other_takes_over_when_it_stops(
        self, rig: RelayRig
    ) -> None:
        arrivals = rig.arrivals()
        first, second = rig.relay(owner="relay-a"), rig.relay(owner="relay-b")

        async def first_holds() -> bool:
            return (await first.status()).state is ProjectionState.LIVE

        async def second_stands_by() -> bool:
            return (await second.status()).state is ProjectionState.STANDBY

        await first.__aenter__()
        try:
            await eventually(first_holds, "the first relay holds the lease", seconds=10)
            async with second:
                await eventually(second_stands_by, "the second relay stands by")
                await append_interleaved(rig.events, ["order-1", "order-2"], 5)
                await first.wait_until(10, timeout=10)
                await arrivals.until([str(e.event_id) for e in await recorded(rig.events)])
                assert (await second.status()).holder == "relay-a"
                await first.__aexit__(None, None, None)  # the holder stops: the standby takes over
                await append_interleaved(rig.events, ["order-1", "order-2"], 5)
                await second.wait_until(20, timeout=10)
                assert (await second.status()).holder == "relay-b"
        finally:
            await first.__aexit__(None, None, None)
        await arrivals.until([str(e.event_id) for e in await recorded(rig.events)])
        assert await arrivals.more() == []
        assert (len(arrivals.messages), arrivals.duplicates) == (20, 0)

    async def test_replay_publishes_every_event_again(self, rig: RelayRig) -> None:
        counting = FlakyPublisher(rig.broker.publisher)
        await append_interleaved(rig.events, ["order-1", "order-2"], 3)
        relay = rig.relay(publisher=counting)
        await relay.catch_up()
        ids = [str(e.event_id) for e in await recorded(rig.events)]
        arrivals = rig.arrivals()
        await arrivals.until(ids)
        status = await relay.replay()
        assert (status.checkpoint, status.head) == (6, 6)
        assert sorted(counting.accepted) == sorted(ids * 2)
        if rig.deduplicates:  # the broker may drop the copies (real SQS FIFO does, moto not)
            await arrivals.drain()
            assert arrivals.ids == set(ids)
        else:
            await arrivals.until_count(12)
            assert sorted(m.id for m in arrivals.messages) == sorted(ids * 2)
            assert await arrivals.more() == []

    async def _append_with_one_too_big(self, rig: RelayRig) -> int:
        """Two streams of four events; order-1's third is over the broker's size limit.
        Returns its position."""
        pad = "x" * (rig.broker.max_message_bytes + 1)
        await append_interleaved(rig.events, ["order-1", "order-2"], 2)
        big = await rig.events.append("order-1", [NewEvent("Placed", {"pad": pad})])
        await append_interleaved(rig.events, ["order-2"], 1, event_type="Paid")
        await rig.events.append("order-1", [NewEvent("Placed", {"n": 4})])
        await rig.events.append("order-2", [NewEvent("Placed", {"n": 4})])
        return big.position
