"""The SQS connection: settings, a lazily opened aiobotocore client, queue URLs, error mapping."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, TypeVar

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from forze.domain.errors import BrokerUnavailable

__all__ = ["SqsSettings"]

_T = TypeVar("_T")

_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "KmsThrottled",
        "RequestTimeout",
    }
)


@dataclass(frozen=True, slots=True)
class SqsSettings:
    """Where SQS is and how long any call may take.

    ``endpoint_url`` is empty for AWS itself; credentials are taken from the environment when
    not given. Every call is bounded: ``connect_timeout`` and ``read_timeout`` per attempt
    (the read timeout must exceed 20 s, the longest long poll), ``max_attempts`` attempts in
    all, and ``call_timeout`` seconds for a whole call, retries included.
    """

    region: str = "us-east-1"
    endpoint_url: str = ""
    access_key_id: str | None = None
    secret_access_key: str | None = None
    connect_timeout: float = 3.0
    read_timeout: float = 25.0
    max_attempts: int = 2
    call_timeout: float = 30.0


class SqsConnection:
    """One aiobotocore SQS client, opened on first use, with cached queue URLs."""

    def __init__(self, settings: SqsSettings) -> None:
        self._settings = settings
        self._stack: AsyncExitStack | None = None
        self._client: Any = None
        self._lock = asyncio.Lock()
        self._urls: dict[str, str] = {}
        self._closed = False

    async def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Run SQS ``operation`` (its botocore method name), translating every failure."""
        client = await self._open()
        result: dict[str, Any] = await bounded(
            getattr(client, operation)(**params), self._settings.call_timeout, operation
        )
        return result

    async def queue_url(self, name: str) -> str:
        """The URL of queue ``name`` (looked up once)."""
        url = self._urls.get(name)
        if url is None:
            url = str((await self.call("get_queue_url", QueueName=name))["QueueUrl"])
            self._urls[name] = url
        return url

    async def close(self) -> None:
        """Close the client (idempotent)."""
        self._closed = True
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def _open(self) -> Any:
        if self._closed:
            raise BrokerUnavailable("the SQS connection is closed", transient=False)
        async with self._lock:
            if self._client is None:
                settings = self._settings
                config = AioConfig(
                    connect_timeout=settings.connect_timeout,
                    read_timeout=settings.read_timeout,
                    retries={"max_attempts": settings.max_attempts, "mode": "standard"},
                )
                stack = AsyncExitStack()
                creating = get_session().create_client(
                    "sqs",
                    region_name=settings.region,
                    endpoint_url=settings.endpoint_url or None,
                    aws_access_key_id=settings.access_key_id,
                    aws_secret_access_key=settings.secret_access_key,
                    config=config,
                )
                self._client = await bounded(
                    stack.enter_async_context(creating), settings.call_timeout, "connect"
                )
                self._stack = stack
            return self._client


async def bounded(call: Awaitable[_T], seconds: float, what: str) -> _T:
    """Await ``call`` for at most ``seconds``; any driver failure becomes ``BrokerUnavailable``."""
    try:
        async with asyncio.timeout(seconds):
            return await call
    except ClientError as error:
        raise unavailable(error, what) from None
    except TimeoutError:
        raise BrokerUnavailable(f"SQS {what}: no answer within {seconds:g} s") from None
    except (BotoCoreError, OSError) as error:
        raise BrokerUnavailable(f"SQS {what}: {type(error).__name__}: {error}") from None


def error_code(error: ClientError) -> str:
    """The AWS error code of ``error``."""
    return str(error.response.get("Error", {}).get("Code", ""))


def unavailable(error: ClientError, what: str) -> BrokerUnavailable:
    """``error`` as ``BrokerUnavailable``: transient for throttling and server faults."""
    code = error_code(error)
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    transient = code in _TRANSIENT_CODES or status >= 500
    return BrokerUnavailable(f"SQS {what}: {code or 'error'}: {error}", transient=transient)
