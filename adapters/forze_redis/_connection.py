"""Opening a redis-py asyncio client, and translating its errors at the adapter boundary."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from forze.domain.errors import BrokerUnavailable

__all__ = ["DEFAULT_TIMEOUT", "connect"]

DEFAULT_TIMEOUT = 5.0
"""Seconds any one Redis call may take (connecting included) before ``BrokerUnavailable``."""


def connect(
    url: str, *, timeout_seconds: float = DEFAULT_TIMEOUT, max_connections: int = 50
) -> Redis:
    """A client for ``url`` (``redis://host:port/db``) with timeouts on every socket operation.

    redis-py's own retries are turned off: a retried pipeline could be sent twice without the
    caller knowing, and a lost connection must surface as ``BrokerUnavailable`` so the caller
    (the relay, a consumer loop) decides; the next call takes a fresh connection. No
    connection is opened until the first call. At most ``max_connections`` are open at once;
    a call waits up to ``timeout_seconds`` for one to be free."""
    pool: BlockingConnectionPool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout_seconds,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
    )
    return Redis.from_pool(pool)


@asynccontextmanager
async def guarded(what: str, seconds: float = DEFAULT_TIMEOUT) -> AsyncIterator[None]:
    """Run the body within ``seconds``; driver errors and timeouts become ``BrokerUnavailable``
    (transient for lost connections and timeouts, permanent for errors the server would
    repeat)."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise BrokerUnavailable(f"redis: {what} took more than {seconds:g} s") from None
    except (RedisConnectionError, RedisTimeoutError, OSError) as error:
        raise BrokerUnavailable(f"redis: {what} failed: {error}") from None
    except RedisError as error:
        raise BrokerUnavailable(f"redis: {what} failed: {error}", transient=False) from None


async def call(result: object) -> Any:
    """Await a redis-py command (its stubs type each command's result as ``T | Awaitable[T]``,
    with ``T`` looser than what the asyncio client returns)."""
    if inspect.isawaitable(result):
        return await result
    return result
