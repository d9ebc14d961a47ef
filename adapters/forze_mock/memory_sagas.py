"""``InProcessSagaRunner``: saga definitions run in this process, on a clock the test moves.

The same :class:`~forze_projections.sagas.engine.SagaMachine` the Temporal runner drives runs
each instance here, so a saga's tests on this runner hold on Temporal too. Nothing is durable:
it is for tests and for trying a saga out, not for production.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from forze.contracts import RecordedEvent
from forze.domain.errors import NotFoundError, WiringError
from forze.execution import Runtime
from forze_projections.sagas import Saga
from forze_projections.sagas.engine import (
    InstanceStatus,
    SagaMachine,
    SagaSnapshot,
    StepFailed,
    StepRun,
    is_final,
    run_step,
)

__all__ = ["InProcessSagaRunner"]

START = datetime(2026, 1, 1, tzinfo=UTC)
"""Where the runner's clock starts unless told otherwise."""


class InProcessSagaRunner:
    """A :class:`forze.contracts.SagaRunner` running ``sagas`` in-process against ``runtime``.

    ``deliver`` returns once the instance handled the event and ran the steps it asked for
    (a step is tried up to its ``Retry.attempts`` at once, without waiting its delays). Time
    stands still until :meth:`advance` moves it and fires the timers due. Events of one
    instance are handled one at a time, in delivery order; instances never wait for each
    other. Instances that ended are kept (with their state), and events for them ignored, as
    on Temporal; a starting event for a key that ended starts nothing.
    """

    def __init__(
        self, runtime: Runtime, sagas: Iterable[Saga[Any]], *, start: datetime = START
    ) -> None:
        self._runtime = runtime
        self._sagas: dict[str, Saga[Any]] = {}
        for saga in sagas:
            if self._sagas.setdefault(saga.name, saga) is not saga:
                raise WiringError(f"two sagas are named {saga.name!r}")
        self._now = start
        self._instances: dict[tuple[str, str], SagaMachine] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self.steps_run: list[StepRun] = []
        """Every step carried out successfully, in order (compensations included)."""

    def now(self) -> datetime:
        """The runner's clock."""
        return self._now

    async def deliver(self, saga: str, key: str, event: RecordedEvent) -> None:
        """Hand ``event`` to instance ``key`` of ``saga``: a starting event starts it when it
        has not started; any other is ignored until it has."""
        definition = self._saga(saga)
        async with self._lock(saga, key):
            machine = self._instances.get((saga, key))
            if machine is None:
                if not definition.starts_with(event.event_type):
                    return
                machine = SagaMachine.new(definition, key, event)
                self._instances[(saga, key)] = machine
            await machine.deliver(event, _Effects(self, definition))

    async def advance(self, by: timedelta) -> int:
        """Move the clock ``by`` and fire every timer now due (earliest first, per instance);
        how many fired."""
        self._now += by
        fired = 0
        for (saga, key), machine in list(self._instances.items()):
            due = machine.next_due()
            if due is None or due > self._now:
                continue
            async with self._lock(saga, key):
                fired += await machine.fire_due(_Effects(self, machine.saga))
        return fired

    async def cancel(self, saga: str, key: str, reason: str = "cancelled") -> None:
        """End a running instance now, undoing its completed steps."""
        async with self._lock(saga, key):
            machine = self._instances.get((saga, key))
            if machine is None:
                raise NotFoundError(f"saga {saga!r} has no instance {key!r}")
            await machine.cancel(_Effects(self, machine.saga), reason)

    def instance(self, saga: str, key: str) -> SagaSnapshot | None:
        """A copy of instance ``key`` of ``saga`` as it is now (``None``: never started)."""
        self._saga(saga)
        machine = self._instances.get((saga, key))
        return None if machine is None else machine.snapshot.model_copy(deep=True)

    async def counts(self, saga: str) -> dict[str, int]:
        """How many instances of ``saga`` are running, completed, compensated and failed."""
        self._saga(saga)
        found = Counter(m.snapshot.status for (s, _), m in self._instances.items() if s == saga)
        return {status: found.get(status, 0) for status in _STATUSES}

    def _saga(self, name: str) -> Saga[Any]:
        saga = self._sagas.get(name)
        if saga is None:
            known = ", ".join(sorted(self._sagas)) or "none"
            raise WiringError(f"no saga {name!r} is registered (registered: {known})")
        return saga

    def _lock(self, saga: str, key: str) -> asyncio.Lock:
        return self._locks.setdefault((saga, key), asyncio.Lock())

    async def _run(self, saga: Saga[Any], step: StepRun) -> None:
        """Try ``step`` up to its attempts (an error no retry mends ends it at once)."""
        for attempt in range(1, step.attempts + 1):
            try:
                await run_step(self._runtime, saga, step)
            except Exception as error:
                if is_final(error) or attempt == step.attempts:
                    raise StepFailed(f"{type(error).__name__}: {error}") from error
                await asyncio.sleep(0)
            else:
                self.steps_run.append(step)
                return


_STATUSES: tuple[InstanceStatus, ...] = ("running", "completed", "compensated", "failed")


class _Effects:
    def __init__(self, runner: InProcessSagaRunner, saga: Saga[Any]) -> None:
        self._runner = runner
        self._saga = saga

    def now(self) -> datetime:
        return self._runner.now()

    async def run(self, step: StepRun) -> None:
        await self._runner._run(self._saga, step)
