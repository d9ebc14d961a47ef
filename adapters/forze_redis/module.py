"""``redis_module``: the Redis adapters wired into a runtime, client lifecycle included."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import Redis

from forze.domain.errors import WiringError
from forze.execution import CACHE, COUNTER, IDEMPOTENCY, PUBLISHER, DepsModule, PortKey, Resolver
from forze_redis._connection import DEFAULT_TIMEOUT, call, connect, guarded
from forze_redis.idempotency import RedisIdempotencyStore
from forze_redis.storage import RedisCache, RedisCounter
from forze_redis.streams_publisher import RedisStreamPublisher

__all__ = ["redis_module"]

_PORTS: frozenset[PortKey[Any]] = frozenset({CACHE, COUNTER, IDEMPOTENCY, PUBLISHER})


def redis_module(
    url: str,
    *,
    name: str = "redis",
    route: str | None = None,
    ports: Collection[PortKey[Any]] = _PORTS,
    prefix: str = "",
    stream: str = "",
    maxlen: int | None = None,
    max_message_bytes: int = 1024 * 1024,
    timeout_seconds: float = DEFAULT_TIMEOUT,
    max_connections: int = 50,
) -> DepsModule:
    """Open one Redis client to ``url`` for the runtime's lifetime and provide, on it, the
    cache (``RedisCache``), the counter (``RedisCounter``), the idempotency store
    (``RedisIdempotencyStore``) and the publisher (``RedisStreamPublisher``)::

        runtime = build_runtime(
            sqlite_module("app.sqlite"),
            redis_module("redis://127.0.0.1:6379/0", prefix="shop:"),
            usecases=[PLACE_ORDER],
        )
        async with runtime:
            ...  # a usecase's ctx.port(CACHE), ctx.port(COUNTER), ... are on Redis

    The runtime's start sends a ``PING`` and fails with ``BrokerUnavailable`` when Redis does
    not answer within ``timeout_seconds`` (an unknown host, a closed port), so a wrong URL is
    found at start-up, not on the first request; the client's connections close when the
    runtime stops. ``timeout_seconds`` and ``max_connections`` are those of ``connect``.

    ``ports`` picks what to provide, e.g. ``(CACHE, COUNTER, IDEMPOTENCY)`` beside another
    broker's publisher (two modules providing one port are refused by ``build_runtime``).
    With ``route`` every port is provided for the specs of that name only (``None``: for
    all). The cache, counter and idempotency keys live under ``<prefix>cache:``,
    ``<prefix>counter:`` and ``<prefix>idempotency:``, so the three never collide. The
    publisher appends each message to the stream named by its ``destination``, or to
    ``stream`` when it names none (without ``stream`` such a message is refused), trimmed to
    about ``maxlen`` entries. Give each Redis module of one runtime its own ``name``.
    """
    unknown = set(ports) - _PORTS
    if unknown:
        named = ", ".join(sorted(str(key) for key in unknown))
        raise WiringError(f"redis_module cannot provide {named}")
    client_key: PortKey[Redis] = PortKey(f"{name}.redis_client")

    @asynccontextmanager
    async def open_client(_resolve: Resolver) -> AsyncIterator[Redis]:
        client = connect(url, timeout_seconds=timeout_seconds, max_connections=max_connections)
        try:
            async with guarded("PING at runtime start", timeout_seconds):
                await call(client.ping())
            yield client
        finally:
            await client.aclose()

    def client_of(resolve: Resolver) -> Redis:
        return resolve(client_key, route)

    def publisher(resolve: Resolver) -> RedisStreamPublisher:
        return RedisStreamPublisher(
            client_of(resolve),
            default_stream=stream,
            maxlen=maxlen,
            max_message_bytes=max_message_bytes,
            timeout_seconds=timeout_seconds,
        )

    module = DepsModule(name)
    module.provide_resource(client_key, open_client, route=route)
    if CACHE in ports:
        module.provide_factory(
            CACHE,
            lambda resolve: RedisCache(
                client_of(resolve), prefix=f"{prefix}cache:", timeout_seconds=timeout_seconds
            ),
            route=route,
        )
    if COUNTER in ports:
        module.provide_factory(
            COUNTER,
            lambda resolve: RedisCounter(
                client_of(resolve), prefix=f"{prefix}counter:", timeout_seconds=timeout_seconds
            ),
            route=route,
        )
    if IDEMPOTENCY in ports:
        module.provide_factory(
            IDEMPOTENCY,
            lambda resolve: RedisIdempotencyStore(
                client_of(resolve),
                prefix=f"{prefix}idempotency:",
                timeout_seconds=timeout_seconds,
            ),
            route=route,
        )
    if PUBLISHER in ports:
        module.provide_factory(PUBLISHER, publisher, route=route)
    return module
