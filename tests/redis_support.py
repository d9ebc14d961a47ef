"""Where the Redis of the tests is, and a throwaway key prefix per test."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import uuid4

from redis.asyncio import Redis

from forze_redis import connect

REDIS_URL = os.environ.get("FORZE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
"""The server the Redis tests use (``.ci/ensure-services.sh`` starts one on localhost)."""


def new_prefix() -> str:
    """A key prefix no other test uses."""
    return f"forze-test:{uuid4().hex[:16]}:"


async def delete_prefixed(client: Redis, prefix: str) -> None:
    """Delete every key starting with ``prefix``."""
    keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
    if keys:
        await client.delete(*keys)


@asynccontextmanager
async def scratch_client() -> AsyncIterator[tuple[Redis, str]]:
    """A client and a fresh prefix; the prefix's keys are deleted and the client closed after."""
    client, prefix = connect(REDIS_URL), new_prefix()
    try:
        yield client, prefix
    finally:
        await delete_prefixed(client, prefix)
        await client.aclose()
