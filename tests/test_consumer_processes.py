"""A consumer process killed mid-message, on each real broker and a SQLite file event store.

The first worker appends the message's events and is SIGKILLed before it acks; the broker
delivers the message again (Redis: a second worker claims the entry the dead one left pending;
RabbitMQ: the dropped connection returns it to the queue; SQS: its visibility timeout ends),
the second worker handles it again and acks it: the events are in the store once, because the
second append reuses the ids derived from the message id.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from forze import Message
from forze.contracts import Publisher, Subscriber
from forze_eventstore import SQLiteDatabase, SQLiteEventStore
from forze_examples.bank import ACCOUNTS
from forze_rabbitmq import RabbitPublisher, RabbitSubscriber
from forze_redis import RedisStreamPublisher, RedisStreamSubscriber, connect
from forze_sqs import SqsPublisher, SqsSubscriber, SqsSubscription
from tests.consumer_worker import CLAIM_AFTER_SECONDS, VISIBILITY_SECONDS
from tests.redis_support import REDIS_URL, delete_prefixed, new_prefix
from tests.test_rabbitmq_broker import subscription
from tests.test_sqs_broker import ENDPOINT, SETTINGS, new_queue

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENT = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
PATIENCE = 30.0
"""Seconds a process may take to start or a condition to come true (a loaded machine)."""


@dataclass(frozen=True)
class Bank:
    """A broker the workers consume deposits from: its kind, address and source as the
    worker takes them, where to publish, a fresh subscriber of the same source, and how long
    that one must wait to see a message a worker left unsettled."""

    kind: str
    address: str
    source: str
    destination: str
    publisher: Publisher
    subscribe: Callable[[], Subscriber]
    comes_back_seconds: float = 0.5


@asynccontextmanager
async def redis_bank() -> AsyncIterator[Bank]:
    """A fresh stream (group ``workers``); its keys are deleted afterwards."""
    prefix = new_prefix()
    stream = f"{prefix}bank"
    admin = connect(REDIS_URL)
    publisher = RedisStreamPublisher(connect(REDIS_URL))

    def subscribe() -> Subscriber:
        client = connect(REDIS_URL)
        return RedisStreamSubscriber(
            client, stream, "workers", claim_after_seconds=CLAIM_AFTER_SECONDS
        )

    try:
        yield Bank(
            "redis", REDIS_URL, stream, stream, publisher, subscribe, CLAIM_AFTER_SECONDS + 0.5
        )
    finally:
        await publisher.close()
        await delete_prefixed(admin, prefix)
        await admin.aclose()


@asynccontextmanager
async def rabbitmq_bank() -> AsyncIterator[Bank]:
    """A fresh exchange and quorum work queue bound to ``orders.#``; deleted afterwards."""
    async with subscription() as (settings, sub, subscribe):
        publisher = RabbitPublisher(settings)
        source = f"{settings.exchange}/{sub.queue}"

        def fresh() -> Subscriber:
            subscriber: RabbitSubscriber = subscribe()
            return subscriber

        try:
            yield Bank("rabbitmq", settings.url, source, "orders.deposit", publisher, fresh)
        finally:
            await publisher.close()


@asynccontextmanager
async def sqs_bank() -> AsyncIterator[Bank]:
    """A fresh FIFO queue whose messages come back ``VISIBILITY_SECONDS`` after a crash."""
    queue = await new_queue(fifo=True, visibility_timeout=VISIBILITY_SECONDS)
    publisher = SqsPublisher(SETTINGS)

    def subscribe() -> Subscriber:
        return SqsSubscriber(
            SETTINGS, SqsSubscription(queue, visibility_timeout=VISIBILITY_SECONDS)
        )

    try:
        yield Bank("sqs", ENDPOINT, queue, queue, publisher, subscribe)
    finally:
        await publisher.close()


BANKS = {"redis": redis_bank, "rabbitmq": rabbitmq_bank, "sqs": sqs_bank}


@pytest.fixture(params=sorted(BANKS))
async def bank(request: pytest.FixtureRequest) -> AsyncIterator[Bank]:
    """Each real broker in turn."""
    async with BANKS[request.param]() as found:
        yield found


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


async def handled(process: asyncio.subprocess.Process, count: int) -> list[str]:
    """The ids of the next ``count`` messages ``process`` reports it handled."""
    assert process.stdout is not None
    ids: list[str] = []
    while len(ids) < count:
        line = await asyncio.wait_for(process.stdout.readline(), PATIENCE)
        assert line.startswith(b"handled "), line
        ids.append(line.decode().split()[1])
    return ids


def deposit(message_id: str, destination: str, amount: int) -> Message:
    """A deposit message to account ``a``, sent to ``destination``."""
    return Message(
        id=message_id,
        type="deposit",
        source="tests",
        subject="a",
        time=datetime.now(UTC),
        data=json.dumps({"account": "a", "amount": amount}).encode(),
        destination=destination,
        ordering_key="a",
    )


async def test_a_message_whose_consumer_was_killed_before_the_ack_is_applied_once(
    bank: Bank, tmp_path: Path
) -> None:
    database, marker = tmp_path / "bank.sqlite", tmp_path / "appended"
    arguments = (bank.kind, bank.address, bank.source, str(database))
    db = SQLiteDatabase(database, synchronous="NORMAL")
    store = SQLiteEventStore(db)

    async def deposits() -> list[int]:
        events = await store.read_stream(ACCOUNTS.stream_id("a"))
        return [e.data["amount"] for e in events if e.event_type == "MoneyDeposited"]

    async def appended() -> bool:
        return marker.exists()

    try:
        await bank.publisher.publish([deposit("m1", bank.destination, 5)])
        async with worker(*arguments, str(marker)) as doomed:
            await eventually(appended, "the first append")
            doomed.send_signal(signal.SIGKILL)
            await doomed.wait()
        assert await deposits() == [5]

        async with worker(*arguments) as survivor:
            await bank.publisher.publish([deposit("m2", bank.destination, 3)])
            assert sorted(await handled(survivor, 2)) == ["m1", "m2"]
            survivor.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(survivor.wait(), PATIENCE) == 0

        assert await deposits() == [5, 3]
        left = bank.subscribe()
        try:
            waited = bank.comes_back_seconds
            assert list(await left.receive(max_messages=10, wait_seconds=waited)) == []
        finally:
            await left.close()
    finally:
        db.close()
