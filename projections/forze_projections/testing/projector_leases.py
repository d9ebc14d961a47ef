"""The lease cases of the projector contract: one runner per projection, safe rebuilds.

Two ``Projector`` instances on one backend stand for two processes here (each has its own
owner name, as a second process would); ``tests/test_projection_processes.py`` runs the same
guarantees with real processes.
"""

from __future__ import annotations

import asyncio

import pytest

from forze.contracts import EventStore
from forze_projections.backend import ProjectionBackend
from forze_projections.errors import ProjectionBusy
from forze_projections.leases import LeaseLost
from forze_projections.projector import Projector
from forze_projections.status import ProjectionState
from forze_projections.testing.projector_support import (
    Pause,
    ProjectorFactory,
    append,
    documents,
    eventually,
    fold,
    numbered,
    status_of,
    tallies,
)


class LeaseCases(ProjectorFactory):
    """``ProjectionLeases`` and the projector's use of them."""

    # -- the port -------------------------------------------------------------------------------

    async def test_a_free_lease_is_taken_and_a_held_one_is_refused_to_another_owner(
        self, backend: ProjectionBackend
    ) -> None:
        leases = backend.leases
        first = await leases.acquire("orders", "runner-a", 3, 30)
        assert first is not None
        assert (first.holder, first.version) == ("runner-a", 3)
        assert await leases.acquire("orders", "runner-b", 3, 30) is None
        again = await leases.acquire("orders", "runner-a", 3, 30)
        assert again is not None
        assert again.holder == "runner-a"
        other = await leases.acquire("customers", "runner-b", 1, 30)
        assert other is not None
        assert other.holder == "runner-b"

    async def test_a_released_lease_goes_to_the_next_owner_at_once(
        self, backend: ProjectionBackend
    ) -> None:
        leases = backend.leases
        await leases.acquire("orders", "runner-a", 1, 30)
        await leases.release("orders", "runner-b")  # not the holder: nothing happens
        assert await leases.acquire("orders", "runner-b", 1, 30) is None
        await leases.release("orders", "runner-a")
        found = await leases.read("orders")
        assert found is not None
        assert found.holder is None
        taken = await leases.acquire("orders", "runner-b", 1, 30)
        assert taken is not None
        assert taken.holder == "runner-b"

    async def test_a_lapsed_lease_goes_to_the_next_owner_and_the_old_holder_cannot_hold_it(
        self, backend: ProjectionBackend
    ) -> None:
        leases = backend.leases
        await leases.acquire("orders", "runner-a", 1, 0.2)
        await asyncio.sleep(0.3)
        lapsed = await leases.read("orders")
        assert lapsed is not None
        assert lapsed.holder is None
        assert await leases.acquire("orders", "runner-b", 1, 30) is not None
        with pytest.raises(LeaseLost, match="runner-b"):
            async with backend.unit():
                await leases.hold("orders", "runner-a", 30)

    async def test_holding_renews_the_lease_inside_a_unit(self, backend: ProjectionBackend) -> None:
        leases = backend.leases
        await leases.acquire("orders", "runner-a", 1, 0.3)
        for _ in range(4):
            await asyncio.sleep(0.15)
            async with backend.unit():
                held = await leases.hold("orders", "runner-a", 0.3)
            assert held.holder == "runner-a"
        assert await leases.acquire("orders", "runner-b", 1, 30) is None

    async def test_rebuild_requests_are_numbered_and_finished_only_by_the_holder(
        self, backend: ProjectionBackend
    ) -> None:
        leases = backend.leases
        assert await leases.request_rebuild("orders") == 1
        assert await leases.request_rebuild("orders") == 2
        lease = await leases.acquire("orders", "runner-a", 1, 30)
        assert lease is not None
        assert lease.rebuild_pending
        with pytest.raises(LeaseLost):
            async with backend.unit():
                await leases.finish_rebuild("orders", "runner-b", 2)
        with pytest.raises(RuntimeError, match="rolled back"):
            await _finish_then_fail(backend)
        still = await leases.read("orders")
        assert still is not None
        assert (still.rebuilds_requested, still.rebuilds_done) == (2, 0)
        async with backend.unit():
            await leases.finish_rebuild("orders", "runner-a", 2)
        done = await leases.read("orders")
        assert done is not None
        assert not done.rebuild_pending

    async def test_taking_a_lease_leaves_another_projections_lapsed_lease_alone(
        self, backend: ProjectionBackend
    ) -> None:
        leases = backend.leases
        await leases.acquire("orders", "runner-a", 1, 0.05)
        await asyncio.sleep(0.1)
        taken = await leases.acquire("customers", "runner-b", 2, 30)
        assert taken is not None
        orders, customers = await leases.read("orders"), await leases.read("customers")
        assert orders is not None
        assert (orders.owner, orders.holder, orders.version) == ("runner-a", None, 1)
        assert customers is not None
        assert (customers.holder, customers.version) == ("runner-b", 2)

    async def test_names_lists_every_lease_taken_or_asked_for_sorted(
        self, backend: ProjectionBackend
    ) -> None:
        leases = backend.leases
        assert await leases.names() == []
        await leases.acquire("orders", "runner-a", 1, 30)
        await leases.request_rebuild("customers")
        await leases.acquire("b-side", "runner-b", 1, 0.1)
        await leases.release("orders", "runner-a")
        assert await leases.names() == ["b-side", "customers", "orders"]

    # -- the projector --------------------------------------------------------------------------

    async def test_a_second_projector_stands_by_until_the_first_stops_then_takes_over(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        await append(events, *numbered(6))
        first = Projector(events, backend, [tallies()], owner="first", lease_seconds=1.5)
        second = Projector(events, backend, [tallies()], owner="second", lease_seconds=1.5)
        async with first:
            await eventually(lambda: _live(first), "the first projector runs the projection")
            async with second:
                await eventually(lambda: _standby(second), "the second stands by")
                assert (await status_of(second, "tallies")).holder == "first"
                feed = await append(events, *numbered(3))
                await second.wait_until(feed[-1].position, timeout=5)
                await first.__aexit__(None, None, None)
                await eventually(lambda: _live(second), "the second takes over", 1.5 / 3 + 1)
                assert (await status_of(second, "tallies")).holder == "second"
                feed = await append(events, *numbered(4))
                await second.wait_until(feed[-1].position, timeout=5)
                assert await documents(backend.serving()) == fold(feed)

    async def test_a_standby_takes_over_once_a_vanished_holders_lease_lapses(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        await backend.leases.acquire("tallies", "a-process-that-died", 1, 0.5)
        feed = await append(events, *numbered(5))
        projector = Projector(events, backend, [tallies()], owner="standby", lease_seconds=0.5)
        async with projector:
            await projector.wait_until(feed[-1].position, timeout=5)
            assert (await status_of(projector, "tallies")).holder == "standby"
        assert await documents(backend.serving()) == fold(feed)

    async def test_catch_up_waits_for_the_runner_that_holds_the_projection(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        runner = Projector(events, backend, [tallies()], owner="service", lease_seconds=30)
        other = Projector(events, backend, [tallies()], owner="cli", lease_seconds=30)
        async with runner:
            await eventually(lambda: _live(runner), "the service runs the projection")
            feed = await append(events, *numbered(7))
            (status,) = await other.catch_up()
            assert (status.checkpoint, status.lag_events, status.holder) == (
                feed[-1].position,
                0,
                "service",
            )
        assert await documents(backend.serving()) == fold(feed)

    async def test_a_rebuild_on_a_projector_following_live_while_events_arrive_loses_nothing(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        await append(events, *numbered(40))
        projector = Projector(events, backend, [tallies()], batch_size=7)
        async with projector:
            await eventually(lambda: _live(projector), "the projector follows the feed")

            async def keep_appending() -> None:
                for n in range(10):
                    await append(events, (f"tally-{n % 3}", "Added", 100 + n))
                    await asyncio.sleep(0)

            _status, _ = await asyncio.gather(projector.rebuild("tallies"), keep_appending())
            feed = await append(events)
            await projector.wait_until(feed[-1].position, timeout=5)
            assert await documents(backend.serving()) == fold(feed)

    async def test_a_rebuild_asked_by_another_projector_is_carried_out_by_the_runner(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        feed = await append(events, *numbered(30))
        runner = Projector(events, backend, [tallies()], owner="service", batch_size=4)
        cli = Projector(events, backend, [tallies()], owner="cli")
        async with runner:
            await runner.wait_until(feed[-1].position, timeout=5)
            rebuilding = asyncio.ensure_future(cli.rebuild("tallies"))
            feed = await append(events, *numbered(5))
            status = await asyncio.wait_for(rebuilding, 10)
            assert status.holder == "service"
            assert status.state is not ProjectionState.FAILED
            await runner.wait_until(feed[-1].position, timeout=5)
            assert (await status_of(runner, "tallies")).state is ProjectionState.LIVE
            assert await documents(backend.serving()) == fold(feed)
            lease = await backend.leases.read("tallies")
            assert lease is not None
            assert not lease.rebuild_pending

    async def test_a_reset_is_refused_while_another_projector_runs_the_projection(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        feed = await append(events, *numbered(5))
        runner = Projector(events, backend, [tallies()], owner="service")
        async with runner:
            await runner.wait_until(feed[-1].position, timeout=5)
            with pytest.raises(ProjectionBusy, match="service"):
                await Projector(events, backend, [tallies()], owner="cli").reset("tallies")
        assert await documents(backend.serving()) == fold(feed)

    async def test_catch_up_after_losing_the_lease_waits_for_the_new_holder(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        await append(events, *numbered(3))
        slow = Projector(events, backend, [tallies()], owner="paused", lease_seconds=0.3)
        await slow.catch_up()
        # The paused runner's lease lapses and another takes it, as after a long GC pause.
        await backend.leases.acquire("tallies", "paused", 1, 0.3)
        await asyncio.sleep(0.4)
        assert await backend.leases.acquire("tallies", "successor", 1, 30) is not None
        feed = await append(events, *numbered(4))
        waiting = asyncio.ensure_future(slow.catch_up())
        await asyncio.sleep(0.2)
        assert not waiting.done()  # it waits for the successor instead of running
        await backend.leases.release("tallies", "successor")
        await asyncio.wait_for(waiting, 5)
        assert await documents(backend.serving()) == fold(feed)

    async def test_a_takeover_during_a_batch_in_flight_never_applies_an_event_twice(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        feed = await append(events, *numbered(12))
        pause = Pause(at=5)  # inside the second batch
        first = Projector(
            events,
            backend,
            [tallies(hook=pause)],
            owner="first",
            lease_seconds=0.3,
            batch_size=4,
        )
        second = Projector(events, backend, [tallies()], owner="second", lease_seconds=0.3)
        async with first:
            await asyncio.wait_for(pause.reached.wait(), 5)
            async with second:  # stands by; the first's lease lapses while it is paused
                await asyncio.sleep(0.5)
                pause.release.set()
                await eventually(lambda: _caught_up(second, feed[-1].position), "caught up")
        assert await documents(backend.serving()) == fold(feed)

    async def test_wait_until_times_out_when_nothing_runs_the_projection(
        self, events: EventStore, backend: ProjectionBackend
    ) -> None:
        feed = await append(events, *numbered(2))
        projector = Projector(events, backend, [tallies()])
        with pytest.raises(TimeoutError):
            await projector.wait_until(feed[-1].position, timeout=0.2)


async def _live(projector: Projector) -> bool:
    return (await status_of(projector, "tallies")).state is ProjectionState.LIVE


async def _finish_then_fail(backend: ProjectionBackend) -> None:
    async with backend.unit():
        await backend.leases.finish_rebuild("orders", "runner-a", 2)
        raise RuntimeError("rolled back")


async def _caught_up(projector: Projector, position: int) -> bool:
    return (await status_of(projector, "tallies")).checkpoint >= position


async def _standby(projector: Projector) -> bool:
    return (await status_of(projector, "tallies")).state is ProjectionState.STANDBY
