"""``SagaWorkflow``: one saga instance as a Temporal workflow, driving the shared machine.

Workflow id ``<saga>-<key>``; started (or signalled) with signal ``deliver`` carrying a
recorded event as JSON. The workflow hands events, one at a time in arrival order, to the
:class:`~forze_projections.sagas.engine.SagaMachine` every runner drives; steps become
activities (``forze-saga-step``) with the step's retry policy; timers are durable
(``workflow.wait_condition`` with a timeout); query ``snapshot`` gives the instance. When
Temporal suggests it (or after ``continue_as_new_after`` events) and no event waits, it
continues as new with its snapshot, so its dedup set and state carry over. A cancelled
workflow still runs the compensations of its completed steps, then ends cancelled.

The sandbox imports this module afresh for each run; forze's modules are passed through.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from forze_projections.sagas.engine import (
        SagaMachine,
        SagaSnapshot,
        StepFailed,
        StepRun,
        event_from_json,
    )
    from forze_temporal._registry import saga_named

__all__ = [
    "OUTCOME",
    "SAGA",
    "STEP_ACTIVITY",
    "WORKFLOW",
    "SagaWorkflow",
]

WORKFLOW = "forze-saga"
"""The workflow type of every saga instance."""
STEP_ACTIVITY = "forze-saga-step"
"""The activity type that runs a step's usecase."""
SAGA = SearchAttributeKey.for_keyword("ForzeSaga")
"""The search attribute holding an instance's saga name."""
OUTCOME = SearchAttributeKey.for_keyword("ForzeSagaOutcome")
"""The search attribute holding an instance's status (running, completed, ...)."""
NOT_RETRIED = "StepRefused"
"""The error type a step's activity raises for an error no retry mends."""


class _Effects:
    """The machine's clock and steps, inside the workflow."""

    def now(self) -> datetime:
        return workflow.now()

    async def run(self, step: StepRun) -> None:
        policy = RetryPolicy(
            initial_interval=timedelta(seconds=max(step.first_delay_seconds, 0.001)),
            backoff_coefficient=step.backoff,
            maximum_interval=timedelta(seconds=max(step.max_delay_seconds, 0.001)),
            maximum_attempts=step.attempts,
            non_retryable_error_types=[NOT_RETRIED],
        )
        try:
            await workflow.execute_activity(
                STEP_ACTIVITY,
                step.model_dump(mode="json"),
                start_to_close_timeout=timedelta(seconds=step.attempt_timeout_seconds),
                retry_policy=policy,
            )
        except ActivityError as error:
            cause = error.cause if error.cause is not None else error
            raise StepFailed(str(cause)) from error


@workflow.defn(name=WORKFLOW)
class SagaWorkflow:
    """One saga instance (see the module)."""

    def __init__(self) -> None:
        self._inbox: list[dict[str, Any]] = []
        self._machine: SagaMachine | None = None

    @workflow.signal(name="deliver")
    def deliver(self, event: dict[str, Any]) -> None:
        """Queue a recorded event (JSON) for the instance."""
        self._inbox.append(event)

    @workflow.query(name="snapshot")
    def snapshot(self) -> dict[str, Any] | None:
        """The instance as JSON (``None`` before its first event)."""
        machine = self._machine
        return None if machine is None else machine.snapshot.model_dump(mode="json")

    @workflow.run
    async def run(self, start: dict[str, Any]) -> dict[str, Any]:
        """Handle events and timers until the instance ends; its final snapshot."""
        saga = saga_named(str(start["saga"]))
        self._inbox = [*start.get("inbox", []), *self._inbox]
        carried = start.get("snapshot")
        if carried is not None:
            machine = SagaMachine(saga, SagaSnapshot.model_validate(carried))
        else:
            first = event_from_json(self._inbox[0]) if self._inbox else None
            machine = SagaMachine.new(saga, str(start["key"]), first)
        self._machine = machine
        limit = int(start.get("continue_as_new_after", 0))
        effects = _Effects()
        status: str = machine.snapshot.status
        mark = _mark if start.get("search_attributes", True) else _unmarked
        handled = 0
        try:
            while not machine.ended:
                if self._inbox:
                    await machine.deliver(event_from_json(self._inbox.pop(0)), effects)
                    handled += 1
                else:
                    await self._wait(machine)
                    await machine.fire_due(effects)
                status = mark(machine, status)
                if not machine.ended and not self._inbox and _time_to_renew(handled, limit):
                    workflow.continue_as_new(
                        {**start, "snapshot": machine.snapshot.model_dump(mode="json")}
                    )
        except asyncio.CancelledError:
            await machine.cancel(effects, "the workflow was cancelled")
            mark(machine, status)
            raise
        return machine.snapshot.model_dump(mode="json")

    async def _wait(self, machine: SagaMachine) -> None:
        """Until an event arrives or the next timer is due."""
        due = machine.next_due()
        if due is None:
            await workflow.wait_condition(lambda: bool(self._inbox))
            return
        left = max((due - workflow.now()).total_seconds(), 0.0)
        with contextlib.suppress(TimeoutError):  # the timer is due
            await workflow.wait_condition(lambda: bool(self._inbox), timeout=left)


def _mark(machine: SagaMachine, status: str) -> str:
    """Keep the outcome search attribute in step with the instance's status."""
    now = machine.snapshot.status
    if now != status:
        workflow.upsert_search_attributes([OUTCOME.value_set(now)])
    return now


def _unmarked(machine: SagaMachine, status: str) -> str:
    """The instance carries no search attributes."""
    return machine.snapshot.status


def _time_to_renew(handled: int, limit: int) -> bool:
    """Whether to continue as new: Temporal suggests it, or ``limit`` events were handled."""
    return workflow.info().is_continue_as_new_suggested() or (limit > 0 and handled >= limit)
