"""The in-process saga runner: the saga runner contract, plus what only it offers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from forze.execution import Runtime
from forze_mock import InProcessSagaRunner
from forze_projections.sagas import Saga
from forze_projections.testing.sagas import RunnerUnderTest, SagaRunnerContract


class TestInProcessSagaRunner(SagaRunnerContract):
    @asynccontextmanager
    async def open_runner(
        self, runtime: Runtime, sagas: Sequence[Saga[Any]]
    ) -> AsyncIterator[RunnerUnderTest]:
        runner = InProcessSagaRunner(runtime, sagas)
        yield RunnerUnderTest(runner, runner.advance, runner.instance)
