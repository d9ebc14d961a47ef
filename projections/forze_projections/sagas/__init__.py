"""Sagas (process managers): definitions fed by the event log, and their dispatcher.

Define a saga with :meth:`Saga.typed` (handlers from :func:`starts`, :func:`reacts` and
:func:`on_timeout`; steps from :func:`call`), run it on a runner (``forze_mock``'s in-process
runner in tests, ``forze_temporal``'s in production) and feed it with a
:class:`SagaDispatcher`. Runner authors find the machine every runner drives in
:mod:`forze_projections.sagas.engine`.
"""

from forze_projections.sagas._dispatch_work import DispatchFailed
from forze_projections.sagas._scenario import SagaOutcome, SagaScenario, scenario
from forze_projections.sagas.definition import (
    Call,
    OnTimeout,
    Reaction,
    Retry,
    Saga,
    SagaContext,
    StepRequest,
    call,
    on_timeout,
    reacts,
    starts,
)
from forze_projections.sagas.dispatcher import SagaDispatcher, SagaDispatcherStatus

__all__ = [
    "Call",
    "DispatchFailed",
    "OnTimeout",
    "Reaction",
    "Retry",
    "Saga",
    "SagaContext",
    "SagaDispatcher",
    "SagaDispatcherStatus",
    "SagaOutcome",
    "SagaScenario",
    "StepRequest",
    "call",
    "on_timeout",
    "reacts",
    "scenario",
    "starts",
]
