"""``S3ObjectStorage`` when S3 fails: every failure is a ``StorageUnavailable`` that says
whether trying again may help, within the configured timeouts and without the driver's
traceback, and a multipart upload that fails or is cancelled leaves no upload behind."""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from uuid import uuid4

import pytest
from aiohttp import web

from forze.domain.errors import NotFoundError, StorageUnavailable
from forze_s3 import S3ObjectStorage, S3Settings
from tests.s3_support import (
    MIB,
    SETTINGS,
    Fault,
    FaultyS3,
    open_uploads,
    part_number,
    scratch_bucket,
)

QUICK = replace(SETTINGS, connect_timeout=0.5, read_timeout=0.5, call_timeout=1.5, max_attempts=2)
"""Settings whose every call gives up within 1.5 s."""

TWELVE_MIB = bytes(range(256)) * (12 * MIB // 256)


@asynccontextmanager
async def through(fault: Fault, **changes: object) -> AsyncIterator[tuple[FaultyS3, S3Settings]]:
    """A fresh bucket, reached through a proxy that answers what ``fault`` picks with an
    error, and settings that reach it through the proxy (``changes`` applied)."""
    async with scratch_bucket() as config, FaultyS3(fault) as proxy:
        yield proxy, replace(config, endpoint_url=proxy.endpoint, **changes)  # type: ignore[arg-type]


def assert_no_driver_traceback(error: BaseException) -> None:
    """``error`` was raised without a chained driver exception to print."""
    assert error.__cause__ is None
    assert error.__suppress_context__
    printed = "".join(traceback.format_exception(error))
    assert "botocore" not in printed
    assert "aiohttp" not in printed


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:1", "http://no-such-host.invalid:4566"])
async def test_an_unreachable_endpoint_is_transient_within_the_call_timeout(endpoint: str) -> None:
    async with S3ObjectStorage(replace(QUICK, bucket="any-bucket", endpoint_url=endpoint)) as s3:
        for call in (lambda: s3.put("k", b"x"), lambda: s3.get("k"), lambda: s3.list()):
            started = time.monotonic()
            with pytest.raises(StorageUnavailable) as raised:
                await call()
            assert time.monotonic() - started < QUICK.call_timeout + 1.0
            assert raised.value.transient is True
            assert_no_driver_traceback(raised.value)


async def test_a_server_that_never_answers_is_transient_within_the_call_timeout() -> None:
    handlers: list[tuple[asyncio.Task[object], asyncio.StreamWriter]] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append((asyncio.current_task(), writer))  # type: ignore[arg-type]
        await reader.read()  # reads until the client gives up, answers nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with S3ObjectStorage(replace(QUICK, endpoint_url=f"http://127.0.0.1:{port}")) as s3:
            started = time.monotonic()
            with pytest.raises(StorageUnavailable) as raised:
                await s3.get("k")
            assert time.monotonic() - started < QUICK.call_timeout + 1.0
    finally:
        server.close()
        for _, writer in handlers:
            writer.close()
        await asyncio.gather(*(task for task, _ in handlers), return_exceptions=True)
        await server.wait_closed()
    assert raised.value.transient is True
    assert_no_driver_traceback(raised.value)


@pytest.mark.parametrize(
    ("status", "code", "transient"),
    [
        (503, "SlowDown", True),
        (500, "InternalError", True),
        (429, "TooManyRequests", True),
        (403, "AccessDenied", False),
        (400, "InvalidArgument", False),
    ],
)
async def test_an_s3_error_is_transient_only_when_trying_again_may_help(
    status: int, code: str, transient: bool
) -> None:
    async def refuse(_request: web.Request) -> tuple[int, str]:
        return status, code

    async with through(refuse, max_attempts=1) as (_, config), S3ObjectStorage(config) as s3:
        with pytest.raises(StorageUnavailable, match=f"PutObject of 'a/b': {code}") as raised:
            await s3.put("a/b", b"x")
    assert raised.value.transient is transient
    assert_no_driver_traceback(raised.value)


async def test_a_missing_bucket_is_a_lasting_failure_that_names_the_fix() -> None:
    missing = replace(SETTINGS, bucket=f"forze-test-{uuid4().hex[:16]}")
    async with S3ObjectStorage(missing) as s3:
        for call in (lambda: s3.get("k"), lambda: s3.put("k", b"x"), lambda: s3.list(), s3.check):
            with pytest.raises(StorageUnavailable, match="does not exist") as raised:
                await call()
            assert raised.value.transient is False
            assert "ensure_bucket" in str(raised.value)


async def test_a_part_that_fails_aborts_the_multipart_upload() -> None:
    async def fail_part_two(request: web.Request) -> tuple[int, str] | None:
        return (500, "InternalError") if part_number(request) == 2 else None

    async with through(fail_part_two, part_size=5 * MIB, max_attempts=1) as (proxy, config):
        async with S3ObjectStorage(config) as s3:
            with pytest.raises(StorageUnavailable, match="part 2 of 3: InternalError"):
                await s3.put("big", TWELVE_MIB)
            with pytest.raises(NotFoundError):
                await s3.stat("big")
        assert ("POST", "uploads") in proxy.seen  # an upload was started...
        assert [m for m, q in proxy.seen if m == "DELETE" and "uploadId=" in q]  # ...and aborted
        assert await open_uploads(config.bucket) == []


async def test_a_failed_completion_aborts_the_multipart_upload() -> None:
    async def fail_completion(request: web.Request) -> tuple[int, str] | None:
        completing = request.method == "POST" and "uploadId" in request.query
        return (400, "InvalidPart") if completing else None

    async with through(fail_completion, part_size=5 * MIB) as (proxy, config):
        async with S3ObjectStorage(config) as s3:
            with pytest.raises(StorageUnavailable, match="InvalidPart") as raised:
                await s3.put("big", TWELVE_MIB)
        assert raised.value.transient is False
        assert [m for m, q in proxy.seen if m == "DELETE" and "uploadId=" in q]
        assert await open_uploads(config.bucket) == []


async def test_a_cancelled_multipart_upload_is_aborted_before_the_cancellation_ends() -> None:
    arrived = asyncio.Event()

    async def hold_part_two(request: web.Request) -> tuple[int, str] | None:
        if part_number(request) == 2:
            arrived.set()
            await proxy.released.wait()
            return 500, "InternalError"
        return None

    async with (
        through(hold_part_two, part_size=5 * MIB) as (proxy, config),
        S3ObjectStorage(config) as s3,
    ):
        upload = asyncio.create_task(s3.put("big", TWELVE_MIB))
        await asyncio.wait_for(arrived.wait(), 10)
        assert len(await open_uploads(config.bucket)) == 1
        upload.cancel()
        with pytest.raises(asyncio.CancelledError):
            await upload
        assert await open_uploads(config.bucket) == []
