"""``sqs_module``: the SQS publisher wired into a runtime, client lifecycle included."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from botocore.exceptions import ClientError

from forze.contracts import Publisher
from forze.execution import PUBLISHER, DepsModule, Resolver

from ._client import SqsConnection, SqsSettings, bounded, error_code
from .publisher import SqsPublisher

__all__ = ["sqs_module"]

_DENIED = frozenset({"AccessDenied", "AccessDeniedException"})
"""Refusals of ``ListQueues`` that still prove SQS answered and knew the credentials."""


def sqs_module(
    settings: SqsSettings,
    *,
    name: str = "sqs",
    route: str | None = None,
    queues: Iterable[str] = (),
) -> DepsModule:
    """Provide an ``SqsPublisher`` as the runtime's publisher::

        runtime = build_runtime(
            sqlite_module("app.sqlite"),
            sqs_module(SqsSettings(region="eu-west-1"), queues=["payments.fifo"]),
            usecases=[PLACE_ORDER],
        )
        async with runtime:
            ...  # ctx.port(PUBLISHER) sends to the queue named by each message's destination

    The runtime's start checks that SQS answers, and fails with ``BrokerUnavailable`` when it
    does not within ``settings.call_timeout`` (an unknown endpoint, bad credentials): it looks
    up the URL of each of ``queues`` (so a queue that does not exist fails the start too), or
    without ``queues`` lists at most one queue (a principal allowed to send but not to list
    queues passes). The client closes when the runtime stops; a publish after that raises a
    lasting ``BrokerUnavailable``. With ``route`` the publisher is provided for the specs of
    that name only (``None``: for all).
    """
    names = tuple(queues)

    @asynccontextmanager
    async def open_publisher(_resolve: Resolver) -> AsyncIterator[Publisher]:
        publisher = SqsPublisher(settings)
        try:
            await _check(publisher._connection, names, settings.call_timeout)
            yield publisher
        finally:
            await publisher.close()

    module = DepsModule(name)
    module.provide_resource(PUBLISHER, open_publisher, route=route)
    return module


async def _check(connection: SqsConnection, queues: tuple[str, ...], seconds: float) -> None:
    """Raise ``BrokerUnavailable`` unless SQS answers (and has each of ``queues``)."""
    if queues:
        for queue in queues:
            await connection.queue_url(queue)
        return
    client = await connection._open()

    async def list_one() -> None:
        try:
            await client.list_queues(MaxResults=1)
        except ClientError as error:
            if error_code(error) not in _DENIED:
                raise

    await bounded(list_one(), seconds, "list_queues at runtime start")
