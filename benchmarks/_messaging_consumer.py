"""The consumer process of ``messaging.py``'s latency scenario: a forze ``Consumer`` on a rig's
subscriber, in a process of its own, as a deployment runs its consumers (another service).

``python _messaging_consumer.py BROKER TOTAL LIMIT [SUBSCRIBER_ARG ...]`` opens the subscriber
``open_subscriber(BROKER, SUBSCRIBER_ARGS)``, subscribes (one empty receive), prints ``ready``;
then runs a ``Consumer`` whose handler records ``time.monotonic()`` when it is called with each
message. Once TOTAL distinct messages arrived it stops the consumer, prints one JSON object
(message id -> that time, in seconds) on one line and exits 0. It exits 1 when they did not
all arrive within LIMIT seconds, or the consumer failed: a backstop, the parent kills it
sooner. Nothing else goes to stdout.

The times are comparable with the parent's: ``time.monotonic()`` is CLOCK_MONOTONIC on Linux,
one clock for the whole system, not per process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from forze.contracts import Message
from forze.execution import ExecutionContext, build_runtime
from forze.messaging import Consumer, ConsumerSettings

if TYPE_CHECKING:  # mypy names the file by its path; at run time benchmarks/ is sys.path[0]
    from benchmarks._messaging_brokers import open_subscriber
    from benchmarks._messaging_run import EVENT_TYPE
else:
    from _messaging_brokers import open_subscriber
    from _messaging_run import EVENT_TYPE

SETTINGS = ConsumerSettings(batch_size=100, concurrency=64, wait_seconds=0.5)


async def consume(broker: str, total: int, limit: float, args: Sequence[str]) -> dict[str, float]:
    """Message id -> ``time.monotonic()`` when the handler was called with it, for ``total``
    messages; after printing ``ready`` once subscribed."""
    received: dict[str, float] = {}
    arrived = asyncio.Event()

    async def handle(ctx: ExecutionContext, message: Message) -> None:
        # CLOCK_MONOTONIC: system-wide on Linux, so comparable with the appending process's.
        received.setdefault(message.id, time.monotonic())
        if len(received) >= total:
            arrived.set()

    subscriber = open_subscriber(broker, args)
    try:
        await subscriber.receive(max_messages=1, wait_seconds=0)  # subscribed before the first
    except BaseException:
        await subscriber.close()
        raise
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    async with build_runtime() as runtime:
        consumer = Consumer(subscriber, runtime, {EVENT_TYPE: handle}, SETTINGS)
        consuming = asyncio.create_task(consumer.run())
        waiting = asyncio.create_task(arrived.wait())
        try:
            await asyncio.wait(
                {consuming, waiting}, timeout=limit, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waiting.cancel()
            consumer.stop()
            await consuming  # raises what made the consumer fail
    if len(received) < total:
        raise RuntimeError(f"{len(received)} of {total} messages arrived within {limit:.0f} s")
    return received


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("broker")
    parser.add_argument("total", type=int)
    parser.add_argument("limit", type=float)
    parser.add_argument("args", nargs="*")
    options = parser.parse_args()
    try:
        received = asyncio.run(consume(options.broker, options.total, options.limit, options.args))
    except Exception as error:
        print(f"the {options.broker} consumer process failed: {error!r}", file=sys.stderr)
        return 1
    sys.stdout.write(json.dumps(received, separators=(",", ":")) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
