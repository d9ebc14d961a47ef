"""Connecting to RabbitMQ with a deadline, and turning driver errors into forze's."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aio_pika
import aiormq
from aio_pika.abc import AbstractRobustConnection

from forze.domain.errors import BrokerUnavailable

__all__ = ["RabbitSettings"]

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/"


@dataclass(frozen=True, slots=True)
class RabbitSettings:
    """Where RabbitMQ is and how long any one call may take.

    ``url``: an AMQP URL; ``exchange``: the durable topic exchange events are published to;
    ``timeout_seconds``: the bound of connecting and of each ``publish``, ``receive`` wait
    excepted, and settlement call; ``reconnect_seconds``: the pause before the robust
    connection tries again after losing the server (calls in between raise a transient
    ``BrokerUnavailable``).
    """

    url: str = DEFAULT_URL
    exchange: str = "forze.events"
    timeout_seconds: float = 10.0
    reconnect_seconds: float = 1.0


_DRIVER_ERRORS = (
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
    OSError,
    socket.gaierror,
    TimeoutError,
)


_LASTING_ERRORS = (
    aiormq.exceptions.AuthenticationError,
    aiormq.exceptions.ProbableAuthenticationError,
    aiormq.exceptions.ChannelAccessRefused,
    aiormq.exceptions.ChannelPreconditionFailed,
    aiormq.exceptions.ChannelNotFoundEntity,
)
"""Refusals the broker would repeat: bad credentials, no permission, a queue or exchange
declared before with other arguments, or one that does not exist."""


@asynccontextmanager
async def translated(what: str, timeout_seconds: float) -> AsyncIterator[None]:
    """Run the block within ``timeout_seconds``; a driver error or the deadline becomes a
    ``BrokerUnavailable`` naming ``what`` was being done (not transient for a refusal the
    broker would repeat)."""
    try:
        async with asyncio.timeout(timeout_seconds):
            yield
    except TimeoutError:
        raise BrokerUnavailable(f"RabbitMQ: {what} took over {timeout_seconds} s") from None
    except _LASTING_ERRORS as error:
        raise BrokerUnavailable(
            f"RabbitMQ: {what} failed for good: {type(error).__name__}: {error}",
            transient=False,
        ) from None
    except _DRIVER_ERRORS as error:
        raise BrokerUnavailable(
            f"RabbitMQ: {what} failed: {type(error).__name__}: {error}"
        ) from None


async def connect(settings: RabbitSettings) -> AbstractRobustConnection:
    """A robust connection (re-established by aio-pika after a loss) made within the timeout."""
    async with translated("connecting", settings.timeout_seconds):
        return await aio_pika.connect_robust(
            settings.url,
            timeout=settings.timeout_seconds,
            reconnect_interval=settings.reconnect_seconds,
        )
