"""``rabbitmq_module``: the RabbitMQ publisher wired into a runtime, connection included."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from forze.contracts import Publisher
from forze.execution import PUBLISHER, DepsModule, Resolver

from ._connection import RabbitSettings, translated
from .publisher import DEFAULT_MAX_MESSAGE_BYTES, RabbitPublisher

__all__ = ["rabbitmq_module"]


def rabbitmq_module(
    settings: RabbitSettings,
    *,
    name: str = "rabbitmq",
    route: str | None = None,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    mandatory: bool = False,
) -> DepsModule:
    """Provide a ``RabbitPublisher`` to the settings' exchange as the runtime's publisher::

        runtime = build_runtime(
            sqlite_module("app.sqlite"),
            rabbitmq_module(RabbitSettings(url="amqp://guest:guest@127.0.0.1:5672/")),
            usecases=[PLACE_ORDER],
        )
        async with runtime:
            ...  # ctx.port(PUBLISHER) publishes to RabbitMQ

    The runtime's start connects and declares the exchange, and fails with
    ``BrokerUnavailable`` when that does not succeed within ``settings.timeout_seconds`` (an
    unknown host, bad credentials), so a wrong URL is found at start-up; the connection
    closes when the runtime stops. With ``route`` the publisher is provided for the specs of
    that name only (``None``: for all). ``max_message_bytes`` and ``mandatory`` are the
    publisher's.
    """

    @asynccontextmanager
    async def open_publisher(_resolve: Resolver) -> AsyncIterator[Publisher]:
        publisher = RabbitPublisher(
            settings, max_message_bytes=max_message_bytes, mandatory=mandatory
        )
        try:
            # Connect now, to fail at start rather than on the first publish.
            async with translated("connecting at runtime start", settings.timeout_seconds):
                await publisher._open()
            yield publisher
        finally:
            await publisher.close()

    module = DepsModule(name)
    module.provide_resource(PUBLISHER, open_publisher, route=route)
    return module
