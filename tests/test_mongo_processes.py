"""A writer process killed in the middle of an append, on MongoDB: readers of the feed and
of the stream never see its events, wait at most its lease, and then go on; the stream
takes its next version without a gap."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

from forze import ConcurrencyError
from forze_eventstore.testing.helpers import new_events
from forze_mongo import MongoEventStore
from tests.mongo_support import MONGO_URL, fresh_database

LEASE = 1.0


async def test_a_writer_killed_mid_append_holds_readers_back_for_its_lease_only() -> None:
    async with fresh_database() as db:
        store = MongoEventStore(db, poll_interval=0.05)
        await store.migrate()
        await store.append("order-1", new_events(2, "Placed"))
        before = await store.read_all()
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.mongo_writer_worker",
            MONGO_URL,
            db.name,
            "order-1",
            str(LEASE),
            stdout=asyncio.subprocess.PIPE,
            cwd=os.getcwd(),
        )
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), 30)
        assert line.startswith(b"inserted "), line
        killed_at = time.monotonic()
        os.kill(child.pid, signal.SIGKILL)
        await child.wait()

        feed = store.subscribe(after=before[-1].position)
        later = asyncio.ensure_future(feed.__anext__())
        # another writer's events land behind the dead one's reservation: not shown yet
        await store.append("order-2", new_events(1, "Placed"))
        assert [e.event_id for e in await store.read_stream("order-1")] == [
            e.event_id for e in before
        ]
        with_events = await asyncio.wait_for(later, 10)
        waited = time.monotonic() - killed_at
        await feed.aclose()

        assert with_events.stream_id == "order-2"
        assert waited >= LEASE * 0.5, "the feed must wait for the dead writer's lease"
        feed_now = await store.read_all()
        assert [e.event_type for e in feed_now] == ["Placed", "Placed", "Placed"]
        assert await store.stream_version("order-1") == 2
        try:
            await store.append("order-1", new_events(1, "Shipped"), 2)
        except ConcurrencyError:
            raise AssertionError("the dead writer's versions must be free again") from None
        shipped = await store.read_stream("order-1")
        assert [e.version for e in shipped] == [1, 2, 3]
        assert shipped[-1].event_type == "Shipped"
        await store.close()
