"""Redis Streams pass the broker contract on a real server, survive killed consumers and
connections, and report an unreachable server as ``BrokerUnavailable``."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import cast

import pytest
from redis.asyncio import Redis

from forze.contracts import Message
from forze.domain.errors import BrokerUnavailable, InvalidInputError, MessageRefused
from forze.testing.contracts import BrokerContract, BrokerUnderTest
from forze.testing.contracts.broker import message, receive_all
from forze_projections.testing import ConsumerContract, RelayContract
from forze_redis import (
    DATA_FIELD,
    HEADER_PREFIX,
    RedisStreamPublisher,
    RedisStreamSubscriber,
    connect,
    read_dead_letters,
)
from tests.redis_support import REDIS_URL, delete_prefixed, new_prefix

LIMIT = 64 * 1024
"""The publishers' ``max_message_bytes`` in these tests."""

ROOT = Path(__file__).resolve().parent.parent


async def entries(admin: Redis, stream: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """Every entry of ``stream`` (XRANGE)."""
    return cast(list[tuple[bytes, dict[bytes, bytes]]], await admin.xrange(stream))


@asynccontextmanager
async def streams() -> AsyncIterator[
    tuple[Redis, str, Callable[..., RedisStreamSubscriber], list[RedisStreamSubscriber]]
]:
    """An admin client, a fresh stream name and a subscriber factory (group ``workers``);
    the subscribers are closed and the stream's keys deleted afterwards."""
    admin, prefix = connect(REDIS_URL), new_prefix()
    stream = f"{prefix}orders"
    made: list[RedisStreamSubscriber] = []

    def subscribe(**options: object) -> RedisStreamSubscriber:
        subscriber = RedisStreamSubscriber(
            connect(REDIS_URL),
            stream,
            "workers",
            **options,  # type: ignore[arg-type]
        )
        made.append(subscriber)
        return subscriber

    try:
        yield admin, stream, subscribe, made
    finally:
        for subscriber in made:
            await subscriber.close()
        await delete_prefixed(admin, prefix)
        await admin.aclose()


class TestRedisStreams(BrokerContract):
    """The contract on one stream and group; one subscriber at a time, so order per key holds
    (``ordered=True``; with several consumers of a group it would not)."""

    @asynccontextmanager
    async def open_broker(self) -> AsyncIterator[BrokerUnderTest]:
        async with streams() as (admin, stream, subscribe, _):
            publisher = RedisStreamPublisher(connect(REDIS_URL), max_message_bytes=LIMIT)

            async def dead_letters() -> list[tuple[Message, str]]:
                found = await read_dead_letters(admin, f"{stream}:dead")
                return [(d.message, d.reason) for d in found if d.message is not None]

            try:
                yield BrokerUnderTest(
                    publisher,
                    stream,
                    subscribe,
                    dead_letters,
                    ordered=True,
                    max_message_bytes=LIMIT,
                )
            finally:
                await publisher.close()


class TestRedisRelay(RelayContract):
    """The relay contract on Redis Streams (the same wiring as ``TestRedisStreams``)."""

    open_broker = TestRedisStreams.open_broker


class TestRedisConsumerContract(ConsumerContract):
    """The consumer contract on Redis Streams (the same wiring as ``TestRedisStreams``); its
    dead letters are read from the raw dead-letter stream, undecodable entries included."""

    open_broker = TestRedisStreams.open_broker

    async def send_malformed(self, broker: BrokerUnderTest) -> None:
        admin = connect(REDIS_URL)
        try:
            await admin.xadd(broker.destination, {"ce_id": "no-specversion", DATA_FIELD: b"{}"})
        finally:
            await admin.aclose()

    async def dead_letter_reasons(self, broker: BrokerUnderTest) -> list[str]:
        admin = connect(REDIS_URL)
        try:
            return [d.reason for d in await read_dead_letters(admin, f"{broker.destination}:dead")]
        finally:
            await admin.aclose()


async def test_an_entry_without_an_envelope_is_dead_lettered_with_the_reason_not_delivered() -> (
    None
):
    async with streams() as (admin, stream, subscribe, _):
        await admin.xadd(stream, {"ce_id": "x-1", DATA_FIELD: b"{}"})
        await admin.xadd(stream, {"something": "else"})
        subscriber = subscribe()
        assert list(await subscriber.receive(max_messages=10, wait_seconds=0.3)) == []
        dead = await read_dead_letters(admin, f"{stream}:dead")
        assert [d.message for d in dead] == [None, None]
        assert "specversion" in dead[0].reason
        assert "no 'data' field" in dead[1].reason
        assert dead[0].fields["ce_id"] == b"x-1"
        assert await admin.xpending(stream, "workers") == {
            "pending": 0,
            "min": None,
            "max": None,
            "consumers": [],
        }


async def test_an_entry_delivered_more_than_max_deliveries_times_is_dead_lettered() -> None:
    async with streams() as (admin, stream, subscribe, _):
        publisher = RedisStreamPublisher(connect(REDIS_URL))
        try:
            await publisher.publish([message(1, destination=stream)])
        finally:
            await publisher.close()
        for attempt in (1, 2):
            subscriber = subscribe(max_deliveries=2)
            (delivery,) = await receive_all(subscriber, 1, ack=False)
            assert delivery.attempt == attempt
            await subscriber.close()
        last = subscribe(max_deliveries=2)
        assert list(await last.receive(max_messages=10, wait_seconds=0.3)) == []
        (dead,) = await read_dead_letters(admin, f"{stream}:dead")
        assert dead.attempts == 3
        assert dead.reason == "delivered more than 2 times without an ack"


async def test_a_later_entry_of_a_key_waits_for_the_retry_of_an_earlier_one() -> None:
    async with streams() as (_, stream, subscribe, _made):
        publisher = RedisStreamPublisher(connect(REDIS_URL))
        try:
            await publisher.publish([message(n, destination=stream) for n in (1, 2)])
        finally:
            await publisher.close()
        subscriber = subscribe()
        (first,) = await subscriber.receive(max_messages=10, wait_seconds=1.0)
        await first.retry(0.3)
        (again,) = await subscriber.receive(max_messages=10, wait_seconds=2.0)
        assert (again.message.id, again.attempt) == (first.message.id, 2)
        await again.ack()
        (second,) = await subscriber.receive(max_messages=10, wait_seconds=1.0)
        assert second.message.extensions["streamversion"] == "2"


async def test_publishing_with_maxlen_trims_the_stream_to_about_that_length() -> None:
    async with streams() as (admin, stream, _, _made):
        publisher = RedisStreamPublisher(connect(REDIS_URL), maxlen=10)
        try:
            for start in range(0, 1000, 100):
                await publisher.publish(
                    [message(n, destination=stream) for n in range(start, start + 100)]
                )
        finally:
            await publisher.close()
        assert await admin.xlen(stream) < 1000


async def test_a_closed_publisher_refuses_to_publish_rather_than_reconnect_quietly() -> None:
    async with streams() as (admin, stream, _, _made):
        publisher = RedisStreamPublisher(connect(REDIS_URL))
        await publisher.publish([message(1, destination=stream)])
        await publisher.close()
        with pytest.raises(BrokerUnavailable, match="closed") as refused:
            await publisher.publish([message(2, destination=stream)])
        await publisher.close()  # still idempotent
        assert refused.value.transient is False
        assert await admin.xlen(stream) == 1


def test_a_negative_maxlen_is_refused_with_a_typed_error() -> None:
    with pytest.raises(InvalidInputError, match="maxlen"):
        RedisStreamPublisher(connect(REDIS_URL), maxlen=-1)


async def test_entries_carry_the_envelope_as_ce_fields_and_the_body_as_data() -> None:
    async with streams() as (admin, stream, _, _made):
        publisher = RedisStreamPublisher(connect(REDIS_URL))
        sent = message(3, destination=stream)
        try:
            await publisher.publish([sent])
        finally:
            await publisher.close()
        ((_, fields),) = await entries(admin, stream)
        assert fields[DATA_FIELD.encode()] == sent.data
        assert fields[f"{HEADER_PREFIX}id".encode()] == sent.id.encode()
        assert fields[f"{HEADER_PREFIX}specversion".encode()] == b"1.0"
        assert {k for k in fields if not k.startswith(HEADER_PREFIX.encode())} == {b"data"}


async def test_a_message_without_a_destination_is_refused_before_anything_after_it() -> None:
    async with streams() as (admin, stream, _, _made):
        publisher = RedisStreamPublisher(connect(REDIS_URL))
        nowhere = message(2)
        try:
            with pytest.raises(MessageRefused) as refused:
                await publisher.publish(
                    [message(1, destination=stream), nowhere, message(3, destination=stream)]
                )
        finally:
            await publisher.close()
        assert refused.value.message_id == nowhere.id
        assert await admin.xlen(stream) == 1


_CONSUMER = """
import asyncio, sys
from forze_redis import RedisStreamSubscriber, connect

async def main() -> None:
    subscriber = RedisStreamSubscriber(
        connect(sys.argv[1]), sys.argv[2], "workers", claim_after_seconds=1.0
    )
    while not (got := await subscriber.receive(max_messages=1, wait_seconds=1.0)):
        pass
    print(got[0].message.id, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_an_entry_of_a_consumer_killed_mid_message_is_taken_over_by_another() -> None:
    async with streams() as (_, stream, subscribe, _made):
        publisher = RedisStreamPublisher(connect(REDIS_URL))
        sent = message(1, destination=stream)
        try:
            await publisher.publish([sent])
        finally:
            await publisher.close()
        consumer = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _CONSUMER,
            REDIS_URL,
            stream,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        try:
            assert consumer.stdout is not None
            line = await asyncio.wait_for(consumer.stdout.readline(), 30)
            assert line.decode().strip() == sent.id
        finally:
            consumer.send_signal(signal.SIGKILL)
            assert await asyncio.wait_for(consumer.wait(), 10) == -signal.SIGKILL
        survivor = subscribe(claim_after_seconds=1.0)
        assert list(await survivor.receive(max_messages=10, wait_seconds=0.2)) == []
        (taken,) = await receive_all(survivor, 1, seconds=10)
        assert (taken.message.id, taken.attempt) == (sent.id, 2)


async def test_killed_connections_fail_a_publish_which_then_works_and_loses_no_ack() -> None:
    async with streams() as (admin, stream, _, _made):
        name = f"victim-{uuid.uuid4().hex[:8]}"  # only this test's connections are killed
        separator = "&" if "?" in REDIS_URL else "?"
        publisher = RedisStreamPublisher(connect(f"{REDIS_URL}{separator}client_name={name}"))
        accepted: list[str] = []
        failures: list[BrokerUnavailable] = []
        stop = asyncio.Event()

        async def kill_connections() -> None:
            while not stop.is_set():
                for client in await admin.client_list():
                    if client.get("name") == name:
                        await admin.client_kill_filter(_id=client["id"])
                await asyncio.sleep(0.005)

        killer = asyncio.create_task(kill_connections())
        try:
            for n in range(300):
                batch = [message(n * 10 + k, destination=stream, size=2000) for k in range(10)]
                try:
                    await publisher.publish(batch)
                except BrokerUnavailable as error:
                    failures.append(error)
                else:
                    accepted += [m.id for m in batch]
        finally:
            stop.set()
            await killer
        after = message(99_999, destination=stream)
        await publisher.publish([after])
        await publisher.close()
        stored = {fields[b"ce_id"].decode() for _, fields in await entries(admin, stream)}
        assert failures
        assert all(error.transient for error in failures)
        assert set(accepted) | {after.id} <= stored


async def test_an_unreachable_server_is_broker_unavailable_within_seconds() -> None:
    started = time.monotonic()
    publisher = RedisStreamPublisher(
        connect("redis://no-such-host.invalid:6379", timeout_seconds=2.0)
    )
    subscriber = RedisStreamSubscriber(
        connect("redis://no-such-host.invalid:6379", timeout_seconds=2.0), "orders", "workers"
    )
    try:
        with pytest.raises(BrokerUnavailable) as publishing:
            await publisher.publish([message(1, destination="orders")])
        with pytest.raises(BrokerUnavailable) as receiving:
            await subscriber.receive(wait_seconds=0.1)
    finally:
        await publisher.close()
        await subscriber.close()
    assert time.monotonic() - started < 10
    assert publishing.value.transient
    assert receiving.value.transient
