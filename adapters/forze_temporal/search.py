"""The search attributes saga workflows carry, registered on a namespace that lacks them."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError

from forze.domain.errors import BrokerUnavailable
from forze_temporal.workflow import OUTCOME, SAGA, WORKFLOW

__all__ = ["STATUSES", "count_instances", "ensure_search_attributes", "instance_counts"]

STATUSES = ("running", "completed", "compensated", "failed")
"""A saga instance's statuses, in the order counts list them."""


async def ensure_search_attributes(client: Client, *, timeout_seconds: float = 10.0) -> None:
    """Add ``ForzeSaga`` and ``ForzeSagaOutcome`` (keywords) to the client's namespace when it
    lacks them: instances are counted by them (``TemporalSagaRunner.counts``). Needs the
    operator's permission; on a managed namespace where that is refused, add them once with
    ``temporal operator search-attribute create``."""
    timeout = timedelta(seconds=timeout_seconds)
    namespace = client.namespace
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace), timeout=timeout
        )
        missing = {
            key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
            for key in (SAGA, OUTCOME)
            if key.name not in listed.custom_attributes
        }
        if missing:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing),
                timeout=timeout,
            )
    except RPCError as error:
        raise BrokerUnavailable(
            f"Temporal: could not register the saga search attributes: {error.message}"
        ) from None


async def instance_counts(
    client: Client, saga: str, *, task_queue: str | None = None, timeout_seconds: float = 10.0
) -> dict[str, int]:
    """The instances of ``saga`` (on ``task_queue`` only, if given) by status, from the
    visibility store (which lags the workflows by a moment)."""
    found: dict[str, int] = {}
    for status in STATUSES:
        query = f"WorkflowType = '{WORKFLOW}' AND {SAGA.name} = '{_quoted(saga)}'"
        query += f" AND {OUTCOME.name} = '{status}'"
        if task_queue is not None:
            query += f" AND TaskQueue = '{_quoted(task_queue)}'"
        if status == "running":  # a cancelled or terminated instance may keep "running"
            query += " AND ExecutionStatus = 'Running'"
        try:
            async with asyncio.timeout(timeout_seconds + 1):
                counted = await client.count_workflows(
                    query, rpc_timeout=timedelta(seconds=timeout_seconds)
                )
        except TimeoutError:
            raise BrokerUnavailable(f"Temporal: counting {saga} instances timed out") from None
        except RPCError as error:
            raise BrokerUnavailable(
                f"Temporal: counting {saga} instances failed: {error.message}"
            ) from None
        found[status] = counted.count
    return found


async def count_instances(
    address: str,
    saga: str,
    *,
    namespace: str = "default",
    task_queue: str | None = None,
    timeout_seconds: float = 10.0,
) -> tuple[int, int, int, int]:
    """:func:`instance_counts` through a client of its own to ``address`` (for tools), as a
    tuple in ``STATUSES`` order."""
    try:
        client = await Client.connect(
            address, namespace=namespace, connect_timeout=timedelta(seconds=timeout_seconds)
        )
    except RuntimeError as error:  # the bridge's connection failure
        raise BrokerUnavailable(f"Temporal at {address}: {error}") from None
    found = await instance_counts(
        client, saga, task_queue=task_queue, timeout_seconds=timeout_seconds
    )
    return (found["running"], found["completed"], found["compensated"], found["failed"])


def _quoted(value: str) -> str:
    """``value`` inside a single-quoted visibility query string."""
    return value.replace("\\", "\\\\").replace("'", "\\'")
