"""``redis_module``, ``rabbitmq_module`` and ``sqs_module`` wire the brokers into a runtime: a
usecase uses their ports, their connections close with the runtime, an unreachable server
fails the runtime's start, and they win over ``MockDepsModule``'s fallbacks."""

from __future__ import annotations

import asyncio
import subprocess
import time
from dataclasses import dataclass, replace
from typing import Any
from uuid import uuid4

import pytest

from forze import (
    CACHE,
    COUNTER,
    EVENT_STORE,
    IDEMPOTENCY,
    PUBLISHER,
    ExecutionContext,
    Usecase,
    build_runtime,
)
from forze.contracts import Message
from forze.domain.errors import BrokerUnavailable, WiringError
from forze.testing.contracts.broker import message, receive_all
from forze_mock import MockDepsModule
from forze_rabbitmq import RabbitSettings, rabbitmq_module
from forze_redis import RedisStreamSubscriber, connect, redis_module
from forze_sqs import SqsSettings, SqsSubscriber, SqsSubscription, sqs_module
from tests.redis_support import REDIS_URL, scratch_client
from tests.test_rabbitmq_broker import URL as RABBIT_URL
from tests.test_rabbitmq_broker import subscription
from tests.test_sqs_broker import SETTINGS, new_queue

QUICKLY = 5.0
"""Seconds within which a runtime on an unresolvable host must have failed to start."""


@dataclass(frozen=True)
class Publish:
    """Publish ``messages`` through the runtime's publisher."""

    messages: tuple[Message, ...]


async def publish(ctx: ExecutionContext, payload: Publish) -> None:
    await ctx.port(PUBLISHER).publish(payload.messages)


PUBLISH = Usecase.command("publish", publish, (PUBLISHER, None))


@dataclass(frozen=True)
class Remember:
    """Cache ``value`` under ``key``, count ``key`` and claim it twice."""

    key: str
    value: bytes


async def remember(ctx: ExecutionContext, payload: Remember) -> tuple[Any, ...]:
    cache, counter, claims = ctx.port(CACHE), ctx.port(COUNTER), ctx.port(IDEMPOTENCY)
    await cache.set(payload.key, payload.value, ttl_seconds=60)
    cached = await cache.get(payload.key)
    count = await counter.increment(payload.key)
    first = await claims.reserve(payload.key, ttl_seconds=60)
    again = await claims.reserve(payload.key, ttl_seconds=60)
    return cached, count, first, again


REMEMBER = Usecase.command(
    "remember", remember, (CACHE, None), (COUNTER, None), (IDEMPOTENCY, None)
)


def with_query(url: str, **arguments: str) -> str:
    """``url`` with ``arguments`` added to its query string."""
    query = "&".join(f"{key}={value}" for key, value in arguments.items())
    return f"{url}{'&' if '?' in url else '?'}{query}"


def nothing_reached(mock: MockDepsModule) -> bool:
    """Whether nothing was published through the mock's in-memory publisher."""
    return mock.broker.pending("published") == 0


# Redis


async def test_a_usecase_in_a_runtime_with_redis_module_caches_counts_and_claims() -> None:
    async with scratch_client() as (admin, prefix):
        mock = MockDepsModule()
        runtime = build_runtime(redis_module(REDIS_URL, prefix=prefix), mock, usecases=[REMEMBER])
        async with runtime:
            first = await runtime.execute(REMEMBER, Remember("k", b"v"))
            second = await runtime.execute(REMEMBER, Remember("k", b"w"))
        assert first == (b"v", 1, True, False)
        assert second == (b"w", 2, False, False)
        assert await admin.get(f"{prefix}cache:k") == b"w"
        assert await admin.get(f"{prefix}counter:k") == b"2"
        assert await admin.exists(f"{prefix}idempotency:k") == 1
        assert await mock.cache.get("k") is None
        assert await mock.counter.get("k") == 0


async def test_a_message_published_through_redis_module_reaches_a_stream_subscriber() -> None:
    async with scratch_client() as (_, prefix):
        mock = MockDepsModule()
        stream, default = f"{prefix}orders", f"{prefix}everything"
        module = redis_module(REDIS_URL, stream=default)
        sent = message(1, destination=stream)
        undirected = message(2)
        async with build_runtime(module, mock, usecases=[PUBLISH]) as runtime:
            await runtime.execute(PUBLISH, Publish((sent, undirected)))
        assert nothing_reached(mock)
        for name, expected in ((stream, sent), (default, undirected)):
            subscriber = RedisStreamSubscriber(connect(REDIS_URL), name, "group")
            try:
                (delivery,) = await receive_all(subscriber, 1)
            finally:
                await subscriber.close()
            assert delivery.message.id == expected.id
            assert delivery.message.data == expected.data


async def test_redis_module_closes_its_connections_when_the_runtime_stops() -> None:
    async with scratch_client() as (admin, prefix):
        name = f"forze-test-{uuid4().hex[:12]}"
        module = redis_module(with_query(REDIS_URL, client_name=name), prefix=prefix)

        async def connections() -> int:
            return sum(1 for client in await admin.client_list() if client["name"] == name)

        async with build_runtime(module, usecases=[REMEMBER]) as runtime:
            await runtime.execute(REMEMBER, Remember("k", b"v"))
            assert await connections() >= 1
        assert await connections() == 0


async def test_a_runtime_with_redis_module_on_an_unresolvable_host_fails_at_start() -> None:
    module = redis_module("redis://no-such-host.invalid:6379/0", timeout_seconds=2.0)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        async with build_runtime(module, usecases=[REMEMBER]):
            pytest.fail("the runtime started")
    assert time.monotonic() - started < QUICKLY


async def test_redis_module_provides_only_the_ports_asked_for_and_only_on_its_route() -> None:
    async with scratch_client() as (admin, prefix):
        mock = MockDepsModule()
        module = redis_module(REDIS_URL, prefix=prefix, route="audit", ports=(CACHE,))
        async with build_runtime(module, mock) as runtime:
            ctx = runtime.context()
            await ctx.port(CACHE, "audit").set("k", b"redis")
            await ctx.port(CACHE).set("k", b"memory")
            assert ctx.port(PUBLISHER) is mock.publisher
            assert ctx.port(COUNTER) is mock.counter
            assert ctx.port(EVENT_STORE) is mock.events
        assert await admin.get(f"{prefix}cache:k") == b"redis"
        assert await mock.cache.get("k") == b"memory"


def test_redis_module_refuses_a_port_it_cannot_provide() -> None:
    with pytest.raises(WiringError, match="event_store"):
        redis_module(REDIS_URL, ports=(CACHE, EVENT_STORE))


def test_two_modules_providing_the_publisher_are_refused_unless_one_leaves_it_out() -> None:
    settings = RabbitSettings(url=RABBIT_URL)
    with pytest.raises(WiringError, match="publisher"):
        build_runtime(redis_module(REDIS_URL), rabbitmq_module(settings))
    build_runtime(redis_module(REDIS_URL, ports=(CACHE, COUNTER)), rabbitmq_module(settings))


# RabbitMQ


def _rabbit_connections_named(name: str) -> int:
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "--no-table-headers", "client_properties"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return sum(f'{{"connection_name","{name}"}}' in line for line in listed.splitlines())


async def test_a_message_published_through_rabbitmq_module_reaches_a_queue_subscriber() -> None:
    async with subscription() as (settings, _, subscribe):
        mock = MockDepsModule()
        sent = message(1, destination="orders.placed")
        async with build_runtime(rabbitmq_module(settings), mock, usecases=[PUBLISH]) as runtime:
            await runtime.execute(PUBLISH, Publish((sent,)))
        (delivery,) = await receive_all(subscribe(), 1)
        assert delivery.message.id == sent.id
        assert delivery.message.data == sent.data
        assert nothing_reached(mock)


async def test_rabbitmq_module_connects_at_start_and_disconnects_when_the_runtime_stops() -> None:
    async with subscription() as (settings, _, _subscribe):
        name = f"forze-test-{uuid4().hex[:12]}"
        named = replace(settings, url=with_query(settings.url, name=name))

        def connections() -> int:
            return _rabbit_connections_named(name)

        async with build_runtime(rabbitmq_module(named)):
            assert await asyncio.to_thread(connections) == 1
        deadline = time.monotonic() + 10
        while await asyncio.to_thread(connections) > 0:
            assert time.monotonic() < deadline, "the connection is still open"
            await asyncio.sleep(0.2)


async def test_a_runtime_with_rabbitmq_module_on_an_unresolvable_host_fails_at_start() -> None:
    settings = RabbitSettings(
        url="amqp://guest:guest@no-such-host.invalid:5672/", timeout_seconds=3.0
    )
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        async with build_runtime(rabbitmq_module(settings), usecases=[PUBLISH]):
            pytest.fail("the runtime started")
    assert time.monotonic() - started < QUICKLY


# SQS


async def test_a_message_published_through_sqs_module_reaches_a_queue_subscriber() -> None:
    queue = await new_queue(fifo=True)
    mock = MockDepsModule()
    sent = message(1, destination=queue)
    module = sqs_module(SETTINGS, queues=[queue])
    async with build_runtime(module, mock, usecases=[PUBLISH]) as runtime:
        await runtime.execute(PUBLISH, Publish((sent,)))
    subscriber = SqsSubscriber(SETTINGS, SqsSubscription(queue))
    try:
        (delivery,) = await receive_all(subscriber, 1)
    finally:
        await subscriber.close()
    assert delivery.message.id == sent.id
    assert delivery.message.data == sent.data
    assert nothing_reached(mock)


async def test_the_publisher_of_sqs_module_refuses_to_publish_after_the_runtime_stopped() -> None:
    queue = await new_queue(fifo=False)
    async with build_runtime(sqs_module(SETTINGS)) as runtime:
        publisher = runtime.port(PUBLISHER)
        await publisher.publish([message(1, destination=queue)])
    with pytest.raises(BrokerUnavailable) as refused:
        await publisher.publish([message(2, destination=queue)])
    assert not refused.value.transient


async def test_a_runtime_with_sqs_module_on_an_unresolvable_host_fails_at_start() -> None:
    settings = SqsSettings(
        endpoint_url="http://no-such-host.invalid:4566",
        access_key_id="test",
        secret_access_key="test",
        connect_timeout=1.0,
        max_attempts=1,
        call_timeout=3.0,
    )
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        async with build_runtime(sqs_module(settings), usecases=[PUBLISH]):
            pytest.fail("the runtime started")
    assert time.monotonic() - started < QUICKLY


async def test_a_runtime_with_sqs_module_naming_a_missing_queue_fails_at_start() -> None:
    module = sqs_module(SETTINGS, queues=[f"forze-missing-{uuid4().hex[:12]}"])
    with pytest.raises(BrokerUnavailable) as unavailable:
        async with build_runtime(module, usecases=[PUBLISH]):
            pytest.fail("the runtime started")
    assert not unavailable.value.transient
