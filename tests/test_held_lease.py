"""A held projection lease: its keeper ends when the runner lets go, whatever the driver."""

from __future__ import annotations

import asyncio
import contextlib

from forze_projections._held_lease import HeldLease
from forze_projections.leases import InMemoryLeases, Lease
from forze_projections.undo import UndoLog


class SwallowingLeases(InMemoryLeases):
    """Leases whose first renewal swallows a cancellation, as ``asyncio.wait_for`` does on
    Python 3.11 when the task is cancelled just as the awaited call finishes (PyMongo sends
    every command through it)."""

    def __init__(self) -> None:
        super().__init__(UndoLog())
        self.renewing = asyncio.Event()

    async def hold(self, name: str, owner: str, seconds: float) -> Lease:
        if not self.renewing.is_set():
            self.renewing.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()
        return await super().hold(name, owner, seconds)


async def test_leaving_a_held_lease_ends_its_keeper_even_when_a_renewal_swallowed_the_cancel() -> (
    None
):
    leases = SwallowingLeases()
    held = await HeldLease.take(leases, "tallies", "runner-1", 1, 0.03)
    assert held is not None

    async def hold_then_leave() -> None:
        async with held:
            await leases.renewing.wait()  # the keeper is inside a renewal now

    leaving = asyncio.ensure_future(hold_then_leave())
    done, _ = await asyncio.wait([leaving], timeout=5)
    assert leaving in done, "the keeper kept renewing after the runner let go"
    leaving.result()
    assert (await leases.acquire("tallies", "runner-2", 1, 1.0)) is not None, "released"
