"""The relay contract's cases on its status: stalled, and the last error while it retries."""

from __future__ import annotations

import asyncio

from forze.contracts import NewEvent
from forze_projections.relay import Relay, RelayStatus
from forze_projections.status import ProjectionState
from forze_projections.testing.relay_support import GatedPublisher, RelayRig

__all__ = ["RelayStatusCases"]

_STALL = 0.4
"""The relays' ``stall_seconds`` in these cases."""


class RelayStatusCases:
    """A relay is stalled when behind without progress, not when its backlog is old; the
    error it is retrying shows while it does, and stays (older than its progress) after."""

    async def test_a_relay_that_never_published_and_is_behind_longer_than_stall_seconds_is_stalled(
        self, rig: RelayRig
    ) -> None:
        relay = rig.relay(stall_seconds=0.05)
        await rig.events.append("order-1", [NewEvent("Placed", {"n": 1})])
        await asyncio.sleep(0.15)
        behind = await relay.status()
        assert (behind.stalled, behind.lag_events, behind.moved_at) == (True, 1, None)
        assert behind.lag_seconds >= 0.05
        caught_up = await relay.catch_up()
        assert (caught_up.stalled, caught_up.lag_events) == (False, 0)
        assert caught_up.moved_at is not None

    async def test_a_relay_working_through_a_backlog_older_than_stall_seconds_is_not_stalled(
        self, rig: RelayRig
    ) -> None:
        slow = GatedPublisher(rig.broker.publisher, delay=0.04)
        for n in range(12):
            await rig.events.append(f"order-{n % 3}", [NewEvent("Placed", {"n": n})])
        await asyncio.sleep(_STALL * 1.5)
        seen: list[RelayStatus] = []
        async with rig.relay(publisher=slow, batch_size=1, stall_seconds=_STALL) as relay:
            await relay.wait_until(1, timeout=10)  # its checkpoint started moving
            async with asyncio.timeout(20):
                while (status := await relay.status()).lag_events > 0:
                    seen.append(status)
                    await asyncio.sleep(0.02)
        assert len(seen) >= 3, "the relay was seen working through its backlog"
        assert min(s.lag_seconds for s in seen) > _STALL  # every waiting event was that old
        assert [s.checkpoint for s in seen if s.stalled] == []

    async def test_a_relay_whose_publisher_hangs_while_behind_is_stalled_after_stall_seconds(
        self, rig: RelayRig
    ) -> None:
        gate = GatedPublisher(rig.broker.publisher, hang=True)
        async with rig.relay(publisher=gate, stall_seconds=_STALL) as relay:
            position = await self._blocked_behind(rig, relay, gate)
            stuck = await relay.status()
            assert (stuck.lag_events, stuck.stalled, stuck.error) == (1, True, None)
            assert stuck.state is not ProjectionState.FAILED
            gate.release()
            await relay.wait_until(position, timeout=10)
            assert not (await relay.status()).stalled

    async def test_a_relay_whose_broker_keeps_refusing_connections_is_stalled_and_shows_why(
        self, rig: RelayRig
    ) -> None:
        gate = GatedPublisher(rig.broker.publisher, hang=False)
        async with rig.relay(publisher=gate, stall_seconds=_STALL) as relay:
            position = await self._blocked_behind(rig, relay, gate)
            stuck = await relay.status()
            assert (stuck.lag_events, stuck.stalled, stuck.error) == (1, True, None)
            assert stuck.state is not ProjectionState.FAILED
            assert stuck.last_error is not None
            assert "BrokerUnavailable: the broker refuses connections" in stuck.last_error
            assert stuck.last_error_at is not None
            assert stuck.moved_at is not None
            assert stuck.last_error_at > stuck.moved_at  # the error is current
            assert gate.failed >= 1
            gate.release()
            await relay.wait_until(position, timeout=15)
            recovered = await relay.status()
        assert (recovered.stalled, recovered.lag_events) == (False, 0)
        assert recovered.last_error == stuck.last_error  # kept, with its time ...
        assert recovered.last_error_at is not None
        assert recovered.moved_at is not None
        assert recovered.last_error_at < recovered.moved_at  # ... older than the progress since

    async def _blocked_behind(self, rig: RelayRig, relay: Relay, gate: GatedPublisher) -> int:
        """Publish one event, block ``gate``, stay at the head over ``stall_seconds`` (not
        stalled: nothing waits), append one more event (not stalled yet: it just arrived,
        though the checkpoint last moved long ago), then wait over ``stall_seconds`` more.
        Returns the blocked event's position."""
        first = await rig.events.append("order-1", [NewEvent("Placed", {"n": 1})])
        await relay.wait_until(first.position, timeout=10)
        gate.block()
        await asyncio.sleep(_STALL * 1.5)
        idle = await relay.status()
        assert (idle.lag_events, idle.stalled) == (0, False)
        blocked = await rig.events.append("order-1", [NewEvent("Placed", {"n": 2})])
        fresh = await relay.status()
        assert (fresh.lag_events, fresh.stalled) == (1, False)
        await asyncio.sleep(_STALL * 1.5)
        return blocked.position
