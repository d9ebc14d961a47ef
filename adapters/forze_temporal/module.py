"""``temporal_module``: one Temporal client per runtime, and the saga runner on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from temporalio.client import Client

from forze.domain.errors import BrokerUnavailable
from forze.execution import SAGAS, DepsModule, Resolver
from forze_projections.sagas import Saga
from forze_temporal.runner import TemporalSagaRunner
from forze_temporal.search import ensure_search_attributes

__all__ = ["temporal_module"]


def temporal_module(
    address: str,
    sagas: Iterable[Saga[Any]],
    *,
    task_queue: str,
    namespace: str = "default",
    name: str = "temporal",
    timeout_seconds: float = 10.0,
    register_search_attributes: bool = True,
    id_prefix: str = "",
) -> DepsModule:
    """Connect one client to ``address`` when the runtime starts and provide the ``SAGAS``
    port: a :class:`TemporalSagaRunner` of ``sagas`` on ``task_queue``. A server that does
    not answer within ``timeout_seconds`` fails the start with ``BrokerUnavailable``. With
    ``register_search_attributes`` the namespace gets the attributes instances are counted by
    (needs the operator's permission). Run the instances with
    ``SagaWorker.serving(runtime)``, and feed them with a ``SagaDispatcher`` on
    ``runtime.port(SAGAS)``::

        runtime = build_runtime(sqlite_module("app.sqlite"), temporal_module(
            "localhost:7233", [FULFILMENT], task_queue="shop"), usecases=[...])
        async with runtime, SagaWorker.serving(runtime), SagaDispatcher(
            events, backend, runtime.port(SAGAS), name="shop", sagas=[FULFILMENT]):
            ...
    """
    chosen = tuple(sagas)

    @asynccontextmanager
    async def open_runner(_resolve: Resolver) -> AsyncIterator[TemporalSagaRunner]:
        try:
            client = await Client.connect(
                address, namespace=namespace, connect_timeout=timedelta(seconds=timeout_seconds)
            )
        except RuntimeError as error:  # the bridge's connection failure
            raise BrokerUnavailable(f"Temporal at {address}: {error}") from None
        if register_search_attributes:
            await ensure_search_attributes(client, timeout_seconds=timeout_seconds)
        yield TemporalSagaRunner(
            client,
            chosen,
            task_queue=task_queue,
            timeout_seconds=timeout_seconds,
            id_prefix=id_prefix,
        )

    return DepsModule(name).provide_resource(SAGAS, open_runner)
