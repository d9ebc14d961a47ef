"""``s3_module``: the S3 object storage wired into a runtime, client lifecycle included."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from forze.contracts import ObjectStorage
from forze.execution import OBJECTS, DepsModule, Resolver

from ._settings import S3Settings
from .storage import S3ObjectStorage

__all__ = ["s3_module"]


def s3_module(
    settings: S3Settings,
    *,
    name: str = "s3",
    route: str | None = None,
    ensure_bucket: bool = False,
) -> DepsModule:
    """Provide an :class:`S3ObjectStorage` as the runtime's object storage (``OBJECTS``)::

        runtime = build_runtime(
            sqlite_module("app.sqlite"),
            s3_module(S3Settings(bucket="acme-exports", region="eu-west-1")),
            usecases=[EXPORT_ORDERS],
        )
        async with runtime:
            ...  # a usecase's ctx.port(OBJECTS) stores in the bucket

    The runtime's start checks that S3 answers and the bucket exists (one HeadBucket), and
    fails with ``StorageUnavailable`` when it does not within ``settings.call_timeout`` (an
    unknown endpoint, bad credentials, a missing bucket), so a wrong setting is found at
    start-up, not on the first request. With ``ensure_bucket`` a missing bucket is created
    instead (a first start, tests). The client closes when the runtime stops; a call after
    that raises a lasting ``StorageUnavailable``. With ``route`` the storage is provided for
    the specs of that name only (``None``: for all).
    """

    @asynccontextmanager
    async def open_storage(_resolve: Resolver) -> AsyncIterator[ObjectStorage]:
        async with S3ObjectStorage(settings) as storage:
            if ensure_bucket:
                await storage.ensure_bucket()
            else:
                await storage.check()
            yield storage

    module = DepsModule(name)
    module.provide_resource(OBJECTS, open_storage, route=route)
    return module
