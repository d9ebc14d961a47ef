"""``TemporalSagaRunner``: the ``SagaRunner`` port on Temporal (the dispatcher's side).

``deliver`` of a starting event is a signal-with-start of workflow ``<saga>-<key>`` (an
instance that runs takes the signal; one that ended refuses a new start, so a starting event
delivered again after the end starts nothing); any other event is a signal, ignored when no
instance runs. Every call has a deadline; an unreachable or failing server is a transient
``BrokerUnavailable``, which the dispatcher backs off from and tries again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from forze.contracts import RecordedEvent
from forze.domain.errors import BrokerUnavailable, NotFoundError, WiringError
from forze_projections.sagas import Saga
from forze_projections.sagas.engine import SagaSnapshot, event_to_json
from forze_temporal.search import instance_counts
from forze_temporal.workflow import OUTCOME, SAGA, WORKFLOW

__all__ = ["TemporalSagaRunner", "workflow_id"]

T = TypeVar("T")


def workflow_id(saga: str, key: str) -> str:
    """The workflow id of instance ``key`` of ``saga``: ``<saga>-<key>``."""
    return f"{saga}-{key}"


class TemporalSagaRunner:
    """Delivers events to saga workflows on ``task_queue`` (see the module).

    ``continue_as_new_after``: an instance continues as new after handling that many events
    (0: only when Temporal suggests it); carried in each instance's start arguments.
    ``search_attributes``: whether instances carry ``ForzeSaga`` and ``ForzeSagaOutcome``
    (see ``ensure_search_attributes``), which :meth:`counts` needs; turn it off only on a
    server without visibility (the time-skipping test server). ``id_prefix`` goes before
    every workflow id (to keep several applications, or test runs, apart on one namespace).
    """

    def __init__(
        self,
        client: Client,
        sagas: Iterable[Saga[Any]],
        *,
        task_queue: str,
        timeout_seconds: float = 10.0,
        continue_as_new_after: int = 0,
        search_attributes: bool = True,
        id_prefix: str = "",
    ) -> None:
        self.client = client
        """The client it calls Temporal with (``SagaWorker.serving`` runs a worker on it)."""
        self.sagas = tuple(sagas)
        self.task_queue = task_queue
        self._sagas = {saga.name: saga for saga in self.sagas}
        self._task_queue = task_queue
        self._timeout = timeout_seconds
        self._renew_after = continue_as_new_after
        self._attributes = search_attributes
        self._prefix = id_prefix

    async def deliver(self, saga: str, key: str, event: RecordedEvent) -> None:
        """Signal-with-start (a starting event) or signal instance ``key`` of ``saga``."""
        definition = self._saga(saga)
        payload = event_to_json(event)
        handle_id = self._id(saga, key)
        if definition.starts_with(event.event_type):
            start = {
                "saga": saga,
                "key": key,
                "continue_as_new_after": self._renew_after,
                "search_attributes": self._attributes,
            }
            attributes = TypedSearchAttributes(
                [SearchAttributePair(SAGA, saga), SearchAttributePair(OUTCOME, "running")]
                if self._attributes
                else []
            )
            try:
                await self._call(
                    self.client.start_workflow(
                        WORKFLOW,
                        start,
                        id=handle_id,
                        task_queue=self._task_queue,
                        start_signal="deliver",
                        start_signal_args=[payload],
                        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                        search_attributes=attributes,
                        rpc_timeout=self._rpc_timeout,
                    ),
                    f"signal-with-start of {handle_id}",
                )
            except WorkflowAlreadyStartedError:
                return  # the instance ended: it takes nothing more
            return
        handle: WorkflowHandle[Any, Any] = self.client.get_workflow_handle(handle_id)
        try:
            await self._call(
                handle.signal("deliver", payload, rpc_timeout=self._rpc_timeout),
                f"signal of {handle_id}",
            )
        except NotFoundError:
            return  # no instance runs: the event is ignored

    async def counts(self, saga: str) -> dict[str, int]:
        """This runner's instances of ``saga`` (on its task queue) by status, from Temporal's
        visibility store (which lags the workflows by a moment); empty without
        ``search_attributes`` (nothing to count them by)."""
        self._saga(saga)
        if not self._attributes:
            return {}
        return await instance_counts(
            self.client, saga, task_queue=self._task_queue, timeout_seconds=self._timeout
        )

    async def instance(self, saga: str, key: str) -> SagaSnapshot | None:
        """Instance ``key`` of ``saga`` as it is now, by query (``None``: never started). A
        worker of the task queue must be running to answer."""
        self._saga(saga)
        handle: WorkflowHandle[Any, Any] = self.client.get_workflow_handle(self._id(saga, key))
        try:
            found = await self._call(
                handle.query("snapshot", rpc_timeout=self._rpc_timeout),
                f"query of {handle.id}",
            )
        except NotFoundError:
            return None
        return None if found is None else SagaSnapshot.model_validate(found)

    async def cancel(self, saga: str, key: str) -> None:
        """Cancel instance ``key``: it undoes its completed steps and ends."""
        self._saga(saga)
        handle: WorkflowHandle[Any, Any] = self.client.get_workflow_handle(self._id(saga, key))
        await self._call(handle.cancel(rpc_timeout=self._rpc_timeout), f"cancel of {handle.id}")

    async def status_of(self, saga: str, key: str) -> WorkflowExecutionStatus | None:
        """Temporal's status of the instance's latest run (``None``: never started)."""
        handle: WorkflowHandle[Any, Any] = self.client.get_workflow_handle(self._id(saga, key))
        try:
            described = await self._call(
                handle.describe(rpc_timeout=self._rpc_timeout), f"describe of {handle.id}"
            )
        except NotFoundError:
            return None
        return described.status

    def _id(self, saga: str, key: str) -> str:
        return self._prefix + workflow_id(saga, key)

    @property
    def _rpc_timeout(self) -> timedelta:
        return timedelta(seconds=self._timeout)

    def _saga(self, name: str) -> Saga[Any]:
        saga = self._sagas.get(name)
        if saga is None:
            known = ", ".join(sorted(self._sagas)) or "none"
            raise WiringError(f"no saga {name!r} is registered (registered: {known})")
        return saga

    async def _call(self, call: Awaitable[T], what: str) -> T:
        """``call`` within the deadline; Temporal's errors as forze's."""
        try:
            async with asyncio.timeout(self._timeout + 1):
                return await call
        except TimeoutError:
            raise BrokerUnavailable(f"Temporal: {what} took over {self._timeout} s") from None
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise NotFoundError(f"Temporal: {what}: {error.message}") from None
            raise BrokerUnavailable(f"Temporal: {what} failed: {error.message}") from None
