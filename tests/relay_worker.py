"""A relay process for the process test of ``tests/test_relay_faults.py``.

    python -m tests.relay_worker SQLITE_PATH REDIS_URL STREAM OWNER

Relays the events of the SQLite store at ``SQLITE_PATH`` to the Redis stream ``STREAM`` as
the relay ``faults`` (standing by while another process holds it) until SIGTERM. Prints
``ready`` once its relay exists.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from forze_eventstore import SQLiteDatabase, SQLiteEventStore
from forze_projections import Relay, SQLiteProjectionBackend
from forze_redis import RedisStreamPublisher, connect

LEASE_SECONDS = 1.0
"""Short, so that a standby takes over from a killed holder within the test's patience."""


async def main(path: str, url: str, stream: str, owner: str) -> None:
    db = SQLiteDatabase(Path(path), synchronous="NORMAL")
    publisher = RedisStreamPublisher(connect(url))
    try:
        relay = Relay(
            SQLiteEventStore(db, poll_interval=0.05),
            SQLiteProjectionBackend(db),
            publisher,
            name="faults",
            source="forze://faults",
            route=stream,
            batch_size=50,
            owner=owner,
            lease_seconds=LEASE_SECONDS,
        )
        stopped = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
        print("ready", flush=True)
        async with relay:
            await stopped.wait()
    finally:
        await publisher.close()
        db.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
