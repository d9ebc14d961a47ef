"""The S3 connection: a lazily opened aiobotocore client, every call bounded, errors translated.

The one place driver errors become forze's::

    ClientError NoSuchKey / 404 / NotFound ........ NotFoundError
    ClientError throttling, 5xx, 429, timeouts .... StorageUnavailable (transient)
    ClientError anything else (AccessDenied,
        NoSuchBucket, InvalidAccessKeyId, ...) .... StorageUnavailable (transient=False)
    botocore connection, read and stream errors,
        OSError, our own timeout .................. StorageUnavailable (transient)
    other botocore errors (no credentials,
        a parameter botocore refuses) ............. StorageUnavailable (transient=False)

Each is raised ``from None``: the message says what failed, without the driver's traceback.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Collection
from contextlib import AsyncExitStack
from typing import Any, TypeVar

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    IncompleteReadError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from forze.domain.errors import ForzeError, NotFoundError, StorageUnavailable

from ._settings import S3Settings

__all__ = ["S3Connection", "bounded", "error_code"]

_T = TypeVar("_T")

_NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})
"""Codes of a missing object (HeadObject has no body, so only its status: ``404``)."""

_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",
        "RequestTimeoutException",
        "OperationAborted",
    }
)
"""Codes of failures that may pass: trying again later can succeed."""

_TRANSIENT_DRIVER_ERRORS = (
    BotoConnectionError,
    HTTPClientError,
    IncompleteReadError,
    CredentialRetrievalError,
)
"""botocore errors of the network (connecting, reading, a body cut short) or of a credential
service that did not answer."""

_SESSIONS = threading.local()


def _session() -> AioSession:
    """This thread's botocore session, made on first use: loading S3's service model takes
    a tenth of a second and megabytes, so clients share it (botocore sessions are not
    thread-safe, hence one per thread)."""
    session: AioSession | None = getattr(_SESSIONS, "session", None)
    if session is None:
        session = _SESSIONS.session = get_session()
    return session


class S3Connection:
    """One aiobotocore S3 client, opened on first use and closed by :meth:`close`."""

    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        self._stack: AsyncExitStack | None = None
        self._client: Any = None
        self._lock = asyncio.Lock()
        self._closed = False

    async def call(
        self, operation: str, what: str, *, tolerate: Collection[str] = (), **params: Any
    ) -> dict[str, Any]:
        """Run S3 ``operation`` (its botocore method name) within ``call_timeout``; every
        failure translated (``what`` says what was being done, for the message). An error
        whose code is in ``tolerate`` is an empty answer instead."""
        client = await self._open()
        settings = self.settings

        async def attempt() -> dict[str, Any]:
            try:
                answer: dict[str, Any] = await getattr(client, operation)(
                    Bucket=settings.bucket, **params
                )
            except ClientError as error:
                if error_code(error) in tolerate:
                    return {}
                raise
            return answer

        return await bounded(attempt(), settings.call_timeout, what, settings.bucket)

    async def close(self) -> None:
        """Close the client (idempotent); a later call raises a lasting ``StorageUnavailable``."""
        self._closed = True
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def _open(self) -> Any:
        if self._closed:
            raise StorageUnavailable("the S3 object storage is closed", transient=False)
        async with self._lock:
            if self._client is None:
                settings = self.settings
                config = AioConfig(
                    connect_timeout=settings.connect_timeout,
                    read_timeout=settings.read_timeout,
                    retries={"max_attempts": settings.max_attempts, "mode": "standard"},
                    s3={"addressing_style": "path" if settings.path_style else "auto"},
                )
                stack = AsyncExitStack()
                creating = _session().create_client(
                    "s3",
                    region_name=settings.region,
                    endpoint_url=settings.endpoint_url or None,
                    aws_access_key_id=settings.access_key_id,
                    aws_secret_access_key=settings.secret_access_key,
                    aws_session_token=settings.session_token,
                    config=config,
                )
                try:
                    self._client = await bounded(
                        stack.enter_async_context(creating),
                        settings.call_timeout,
                        "opening the client",
                        settings.bucket,
                    )
                except BaseException:
                    await stack.aclose()
                    raise
                self._stack = stack
            return self._client


async def bounded(call: Awaitable[_T], seconds: float, what: str, bucket: str) -> _T:
    """Await ``call`` for at most ``seconds``, every driver failure translated (see the
    module; ``what`` and ``bucket`` say what was being done, for the message)."""
    try:
        async with asyncio.timeout(seconds):
            return await call
    except ClientError as error:
        raise translated(error, what, bucket) from None
    except _TRANSIENT_DRIVER_ERRORS as error:
        raise StorageUnavailable(f"S3 {what}: {_driver_text(error)}") from None
    except TimeoutError:
        raise StorageUnavailable(f"S3 {what}: no answer within {seconds:g} s") from None
    except OSError as error:
        raise StorageUnavailable(f"S3 {what}: {type(error).__name__}: {error}") from None
    except BotoCoreError as error:
        text = _driver_text(error)
        raise StorageUnavailable(f"S3 {what}: {text}", transient=False) from None


def error_code(error: ClientError) -> str:
    """The AWS error code of ``error`` (``"404"`` and the like when the answer had no body)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def translated(error: ClientError, what: str, bucket: str) -> ForzeError:
    """``error`` as ``NotFoundError`` (a missing object) or ``StorageUnavailable``,
    transient for throttling, timeouts and server faults."""
    code = error_code(error)
    if code in _NOT_FOUND:
        return NotFoundError(f"S3 {what}: no such object in bucket {bucket!r}")
    if code == "NoSuchBucket":
        return StorageUnavailable(
            f"S3 {what}: bucket {bucket!r} does not exist (create it, or call"
            " S3ObjectStorage.ensure_bucket)",
            transient=False,
        )
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    transient = code in _TRANSIENT_CODES or status >= 500 or status == 429
    text = str(error.response.get("Error", {}).get("Message", "")) or f"HTTP {status}"
    return StorageUnavailable(f"S3 {what}: {code or 'error'}: {text}", transient=transient)


def _driver_text(error: BotoCoreError) -> str:
    return f"{type(error).__name__}: {error}"
