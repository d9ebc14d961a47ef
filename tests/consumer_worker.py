"""A consumer process for ``tests/test_consumer_processes.py``.

    python -m tests.consumer_worker REDIS_URL STREAM SQLITE_PATH [PAUSE_MARKER]

Consumes ``deposit`` messages from the Redis stream ``STREAM`` (group ``workers``) into the
SQLite event store at ``SQLITE_PATH``. With ``PAUSE_MARKER``, the handler, once it appended its
events, creates that file and hangs before returning (so before the ack): the test kills the
process there. Prints ``ready`` once consuming; ends on SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

from forze import Backoff, Consumer, ConsumerSettings, ExecutionContext, Message, build_runtime
from forze.messaging import message_data
from forze_eventstore import sqlite_module
from forze_examples.bank import ACCOUNTS
from forze_redis import RedisStreamSubscriber, connect

CLAIM_AFTER_SECONDS = 1.0
"""How long an entry of a killed consumer stays pending before another one claims it."""


async def main(redis_url: str, stream: str, path: str, marker: str | None) -> None:
    """Consume until SIGTERM."""

    async def deposit(ctx: ExecutionContext, message: Message) -> None:
        data = message_data(message)

        def act(account: Any) -> None:
            if not account.opened:
                account.open("owner")
            account.deposit(data["amount"])

        await ctx.aggregates(ACCOUNTS).execute(data["account"], act)
        if marker is not None:
            await asyncio.to_thread(Path(marker).write_text, message.id)
            await asyncio.Event().wait()  # hang before the ack, until killed

    subscriber = RedisStreamSubscriber(
        connect(redis_url), stream, "workers", claim_after_seconds=CLAIM_AFTER_SECONDS
    )
    settings = ConsumerSettings(backoff=Backoff(0.05, 1.0), wait_seconds=0.2, grace_seconds=5)
    async with build_runtime(sqlite_module(path, synchronous="NORMAL")) as runtime:
        consumer = Consumer(subscriber, runtime, {"deposit": deposit}, settings)
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, consumer.stop)
        print("ready", flush=True)
        await consumer.run()


if __name__ == "__main__":
    url, stream, path, *rest = sys.argv[1:]
    asyncio.run(main(url, stream, path, rest[0] if rest else None))
