"""A consumer process for ``tests/test_consumer_processes.py``.

    python -m tests.consumer_worker BROKER ADDRESS SOURCE SQLITE_PATH [PAUSE_MARKER]

Consumes ``deposit`` messages into the SQLite event store at ``SQLITE_PATH``, from ``BROKER``:

- ``redis``: ``ADDRESS`` a Redis URL, ``SOURCE`` a stream (group ``workers``);
- ``rabbitmq``: ``ADDRESS`` an AMQP URL, ``SOURCE`` ``<exchange>/<queue>`` (bound to ``orders.#``);
- ``sqs``: ``ADDRESS`` an SQS endpoint (the test server's credentials), ``SOURCE`` a queue.

An entry or message of a killed consumer comes back within about a second (Redis claims it
after ``CLAIM_AFTER_SECONDS``; RabbitMQ at once, when the connection drops; SQS after the
``VISIBILITY_SECONDS`` timeout). With ``PAUSE_MARKER``, the handler, once it appended its
events, creates that file and hangs before returning (so before the ack): the test kills the
process there. Prints ``ready`` once consuming and ``handled <message id>`` after each
handling; ends on SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

from forze import Backoff, Consumer, ConsumerSettings, ExecutionContext, Message, build_runtime
from forze.contracts import Subscriber
from forze.messaging import message_data
from forze_examples.bank import ACCOUNTS
from forze_projections import sqlite_module
from forze_rabbitmq import RabbitSettings, RabbitSubscriber, RabbitSubscription
from forze_redis import RedisStreamSubscriber, connect
from forze_sqs import SqsSettings, SqsSubscriber, SqsSubscription

CLAIM_AFTER_SECONDS = 1.0
"""How long a Redis entry of a killed consumer stays pending before another one claims it."""
VISIBILITY_SECONDS = 2
"""The SQS visibility timeout: how long a message of a killed consumer stays hidden."""
PATTERN = "orders.#"
"""The routing pattern the RabbitMQ work queue is bound with."""


def subscriber_of(broker: str, address: str, source: str) -> Subscriber:
    """The subscriber of ``source`` on ``broker`` (see the module)."""
    if broker == "redis":
        return RedisStreamSubscriber(
            connect(address), source, "workers", claim_after_seconds=CLAIM_AFTER_SECONDS
        )
    if broker == "rabbitmq":
        exchange, queue = source.split("/")
        rabbit = RabbitSettings(url=address, exchange=exchange)
        return RabbitSubscriber(rabbit, RabbitSubscription(queue, PATTERN, max_in_flight=16))
    if broker == "sqs":
        settings = SqsSettings(endpoint_url=address, access_key_id="test", secret_access_key="test")
        return SqsSubscriber(
            settings, SqsSubscription(source, visibility_timeout=VISIBILITY_SECONDS)
        )
    raise SystemExit(f"unknown broker {broker!r}")


async def main(broker: str, address: str, source: str, path: str, marker: str | None) -> None:
    """Consume until SIGTERM."""

    async def deposit(ctx: ExecutionContext, message: Message) -> None:
        data = message_data(message)

        def act(account: Any) -> None:
            if not account.opened:
                account.open("owner")
            account.deposit(data["amount"])

        await ctx.aggregates(ACCOUNTS).execute(data["account"], act)
        print("handled", message.id, flush=True)
        if marker is not None:
            await asyncio.to_thread(Path(marker).write_text, message.id)
            await asyncio.Event().wait()  # hang before the ack, until killed

    subscriber = subscriber_of(broker, address, source)
    settings = ConsumerSettings(backoff=Backoff(0.05, 1.0), wait_seconds=0.2, grace_seconds=5)
    async with build_runtime(sqlite_module(path, synchronous="NORMAL")) as runtime:
        consumer = Consumer(subscriber, runtime, {"deposit": deposit}, settings)
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, consumer.stop)
        print("ready", flush=True)
        await consumer.run()


if __name__ == "__main__":
    kind, address, source, path, *rest = sys.argv[1:]
    asyncio.run(main(kind, address, source, path, rest[0] if rest else None))
