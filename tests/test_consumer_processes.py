"""A consumer process killed mid-message, on a real Redis and a SQLite file event store.

The first worker appends the message's events and is SIGKILLed before it acks; a second
worker claims the entry the dead one left pending, handles it again, and acks it: the events
are in the store once, because the second append reuses the ids derived from the message id.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from redis.asyncio import Redis

from forze import Message
from forze_eventstore import SQLiteDatabase, SQLiteEventStore
from forze_examples.bank import ACCOUNTS
from forze_redis import RedisStreamPublisher, connect
from tests.redis_support import REDIS_URL, delete_prefixed, new_prefix

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENT = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
PATIENCE = 30.0
"""Seconds a process may take to start or a condition to come true (a loaded machine)."""


@asynccontextmanager
async def worker(*arguments: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """A ``tests.consumer_worker`` process, ready; killed if still running at the end."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.consumer_worker",
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        env=ENVIRONMENT,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), PATIENCE)
        assert line == b"ready\n", line
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait until ``check()`` is true, or fail naming ``what``."""
    deadline = asyncio.get_running_loop().time() + PATIENCE
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def deposit(message_id: str, stream: str, amount: int) -> Message:
    """A deposit message to account ``a`` on the Redis stream ``stream``."""
    return Message(
        id=message_id,
        type="deposit",
        source="tests",
        subject="a",
        time=datetime.now(UTC),
        data=json.dumps({"account": "a", "amount": amount}).encode(),
        destination=stream,
        ordering_key="a",
    )


async def test_a_message_whose_consumer_was_killed_before_the_ack_is_applied_once(
    tmp_path: Path,
) -> None:
    prefix = new_prefix()
    stream, database = f"{prefix}bank", tmp_path / "bank.sqlite"
    marker = tmp_path / "appended"
    admin: Redis = connect(REDIS_URL)
    publisher = RedisStreamPublisher(connect(REDIS_URL))
    db = SQLiteDatabase(database, synchronous="NORMAL")
    store = SQLiteEventStore(db)

    async def deposits() -> list[int]:
        events = await store.read_stream(ACCOUNTS.stream_id("a"))
        return [e.data["amount"] for e in events if e.event_type == "MoneyDeposited"]

    async def nothing_pending() -> bool:
        pending = await admin.xpending(stream, "workers")
        return int(pending["pending"]) == 0

    async def appended() -> bool:
        return marker.exists()

    async def both_handled() -> bool:
        return len(await deposits()) >= 2 and await nothing_pending()

    try:
        await publisher.publish([deposit("m1", stream, 5)])
        async with worker(REDIS_URL, stream, str(database), str(marker)) as doomed:
            await eventually(appended, "the first append")
            doomed.send_signal(signal.SIGKILL)
            await doomed.wait()
        assert await deposits() == [5]
        assert not await nothing_pending(), "the killed worker acked the message"

        async with worker(REDIS_URL, stream, str(database)) as survivor:
            await publisher.publish([deposit("m2", stream, 3)])
            await eventually(both_handled, "both messages handled and acked")
            survivor.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(survivor.wait(), PATIENCE) == 0

        assert await deposits() == [5, 3]
        assert await admin.xlen(stream) == 2
    finally:
        db.close()
        await publisher.close()
        await delete_prefixed(admin, prefix)
        await admin.aclose()
