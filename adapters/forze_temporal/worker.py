"""``SagaWorker``: the Temporal worker that runs saga instances and their steps in a process.

Its activity ``forze-saga-step`` calls a step's usecase through the application's runtime
(``run_step``: the appended events get ids derived from the step, so a retried step appends
nothing twice). An error no retry mends (a domain rule, invalid input) is raised as a
non-retryable ``StepRefused``; any other is retried by the step's policy.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from types import TracebackType
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from forze.domain.errors import WiringError
from forze.execution import SAGAS, Runtime
from forze_projections.sagas import Saga
from forze_projections.sagas.engine import StepRun, is_final, run_step
from forze_temporal._registry import register, saga_named
from forze_temporal.runner import TemporalSagaRunner
from forze_temporal.workflow import NOT_RETRIED, STEP_ACTIVITY, SagaWorkflow

__all__ = ["PASSED_THROUGH", "SagaWorker"]

PASSED_THROUGH = ("forze", "forze_eventstore", "forze_projections", "forze_temporal", "pydantic")
"""The modules the workflow sandbox imports once for all runs instead of afresh: forze's own
(the saga machine and the registry of definitions) and pydantic. Add the modules of your
saga definitions with ``passed_through=`` if the workflow must import them."""


class SagaWorker:
    """Runs ``sagas``' instances and steps on ``task_queue`` while entered (``async with``).

    The steps' usecases run on ``runtime`` (enter it first, leave it last). Leaving the
    worker stops polling and waits up to ``shutdown_seconds`` for running steps before
    cancelling them (Temporal retries them elsewhere: their appends are idempotent).
    """

    def __init__(
        self,
        client: Client,
        runtime: Runtime,
        sagas: Iterable[Saga[Any]],
        *,
        task_queue: str,
        passed_through: Iterable[str] = (),
        max_concurrent_steps: int = 100,
        shutdown_seconds: float = 10.0,
    ) -> None:
        self._runtime = runtime
        self.sagas = tuple(sagas)
        register(self.sagas)
        restrictions = SandboxRestrictions.default.with_passthrough_modules(
            *PASSED_THROUGH, *passed_through
        )
        self._worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[SagaWorkflow],
            activities=[self._step],
            workflow_runner=SandboxedWorkflowRunner(restrictions=restrictions),
            max_concurrent_activities=max_concurrent_steps,
            graceful_shutdown_timeout=timedelta(seconds=shutdown_seconds),
        )

    @classmethod
    def serving(cls, runtime: Runtime, **options: Any) -> SagaWorker:
        """A worker for the sagas, task queue and client of the runtime's ``SAGAS`` port (a
        ``temporal_module``); ``options`` as for the constructor. Call it inside
        ``async with runtime``."""
        runner = runtime.port(SAGAS)
        if not isinstance(runner, TemporalSagaRunner):
            raise WiringError(
                f"the runtime's SAGAS port is a {type(runner).__name__}, not a TemporalSagaRunner"
                " (wire temporal_module)"
            )
        return cls(runner.client, runtime, runner.sagas, task_queue=runner.task_queue, **options)

    async def __aenter__(self) -> SagaWorker:
        await self._worker.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._worker.__aexit__(exc_type, exc, tb)

    @activity.defn(name=STEP_ACTIVITY)
    async def _step(self, step: dict[str, Any]) -> None:
        """Run one step's usecase once (Temporal retries by the step's policy)."""
        run = StepRun.model_validate(step)
        try:
            await run_step(self._runtime, saga_named(run.saga), run)
        except Exception as error:
            text = f"{type(error).__name__}: {error}"
            if is_final(error):
                raise ApplicationError(text, type=NOT_RETRIED, non_retryable=True) from error
            raise ApplicationError(text, type=type(error).__name__) from error
