"""Where the S3 of the tests is, throwaway buckets, and a proxy that makes S3 fail on demand.

``FORZE_TEST_S3_ENDPOINT`` names the server (default: ``FORZE_TEST_SQS_ENDPOINT``, else the
moto server ``.ci/ensure-services.sh`` starts on http://127.0.0.1:5055).
"""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from typing import Any
from uuid import uuid4

import aiohttp
from aiobotocore.session import get_session
from aiohttp import web
from botocore.exceptions import ClientError

from forze_s3 import S3ObjectStorage, S3Settings

MIB = 1024 * 1024
"""One mebibyte."""

ENDPOINT = os.environ.get("FORZE_TEST_S3_ENDPOINT") or os.environ.get(
    "FORZE_TEST_SQS_ENDPOINT", "http://127.0.0.1:5055"
)
"""The S3 server of the tests (the moto server that also serves the SQS tests)."""

SETTINGS = S3Settings(
    bucket="unused",
    endpoint_url=ENDPOINT,
    access_key_id="test",
    secret_access_key="test",
    call_timeout=20.0,
)
"""Settings of the test server; :func:`scratch_bucket` gives each test its own bucket."""


_SESSION = get_session()


def raw_client(endpoint: str = ENDPOINT) -> AbstractAsyncContextManager[Any]:
    """A plain aiobotocore S3 client of the test server (to look behind the adapter)."""
    return _SESSION.create_client(  # type: ignore[no-any-return]
        "s3",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


async def remove_bucket(bucket: str) -> None:
    """Abort the bucket's multipart uploads, delete its objects and the bucket itself."""
    async with raw_client() as client:
        try:
            uploads = await client.list_multipart_uploads(Bucket=bucket)
        except ClientError:
            return  # no such bucket
        for upload in uploads.get("Uploads") or []:
            await client.abort_multipart_upload(
                Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
        async for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": found["Key"]} for found in page.get("Contents") or []]
            if keys:
                await client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
        await client.delete_bucket(Bucket=bucket)


@asynccontextmanager
async def scratch_bucket(**changes: Any) -> AsyncIterator[S3Settings]:
    """Settings of a new, empty bucket (``changes`` applied), removed with everything in it
    afterwards."""
    settings = replace(SETTINGS, bucket=f"forze-test-{uuid4().hex[:16]}", **changes)
    async with S3ObjectStorage(settings) as storage:
        await storage.ensure_bucket()
    try:
        yield settings
    finally:
        await remove_bucket(settings.bucket)


async def open_uploads(bucket: str) -> list[dict[str, Any]]:
    """The multipart uploads of ``bucket`` that were neither completed nor aborted."""
    async with raw_client() as client:
        answer = await client.list_multipart_uploads(Bucket=bucket)
    return list(answer.get("Uploads") or [])


Fault = Callable[[web.Request], Awaitable[tuple[int, str] | None]]
"""Decides a request's fate at :class:`FaultyS3`: ``None`` forwards it, ``(status, code)``
answers an S3 error instead."""

_HOP_BY_HOP = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "expect", "server", "date"}
)


class FaultyS3:
    """An HTTP proxy on 127.0.0.1 in front of the test S3 that answers the requests
    ``fault`` picks with an S3 error (a throttled part, a refused call); the others pass.
    ``seen`` lists each request's method and query, to tell what the adapter did. A fault
    may hold a request until :attr:`released` is set, which leaving the proxy does."""

    def __init__(self, fault: Fault) -> None:
        self.fault = fault
        self.seen: list[tuple[str, str]] = []
        self.released = asyncio.Event()
        self.endpoint = ""
        self._runner = web.AppRunner(
            web.Application(client_max_size=64 * 1024 * 1024),
            handle_signals=False,
            shutdown_timeout=1.0,
        )
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> FaultyS3:
        self._runner.app.router.add_route("*", "/{path:.*}", self._handle)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.endpoint = f"http://{host}:{port}"
        self._session = aiohttp.ClientSession(auto_decompress=False)
        return self

    async def __aexit__(self, *_: object) -> None:
        self.released.set()
        if self._session is not None:
            await self._session.close()
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.method, request.query_string))
        body = await request.read()
        refused = await self.fault(request)
        if refused is not None:
            status, code = refused
            error = f"<Error><Code>{code}</Code><Message>injected</Message></Error>"
            return web.Response(status=status, body=error.encode(), content_type="application/xml")
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with self._session.request(
            request.method, ENDPOINT + request.path_qs, headers=headers, data=io.BytesIO(body)
        ) as answer:
            data = await answer.read()
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
            return web.Response(status=answer.status, headers=kept, body=data)


def part_number(request: web.Request) -> int | None:
    """The part an UploadPart request uploads (``None`` for other requests)."""
    number = request.query.get("partNumber")
    return int(number) if request.method == "PUT" and number else None
