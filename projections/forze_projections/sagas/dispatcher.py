"""``SagaDispatcher``: the event log feeds saga instances, checkpointed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from forze.contracts import EventStore, SagaRunner, Telemetry
from forze.domain.errors import InvalidInputError, WiringError
from forze_eventstore.adapter_kit import DEFAULT_LIMITS
from forze_projections._feed_service import FeedService
from forze_projections.backend import ProjectionBackend
from forze_projections.projector import STOP_ON_ERROR, ProgressCallback
from forze_projections.sagas._dispatch_work import DispatchCounts, DispatchWork
from forze_projections.sagas.definition import Saga
from forze_projections.status import FailurePolicy, ProjectionState

__all__ = ["SagaDispatcher", "SagaDispatcherStatus"]


@dataclass(frozen=True, slots=True)
class SagaDispatcherStatus:
    """Where a dispatcher is, and what became of its sagas' instances.

    ``checkpoint``, ``head``, lags, ``state``, ``stalled``, ``error``, ``holder`` and
    ``moved_at`` mean what they mean for a relay (``RelayStatus``). ``instances`` counts each
    saga's instances by status (running, completed, compensated, failed) as the runner
    reports them. ``delivered`` and ``skipped`` count
    what this process's runner did since it started.
    """

    name: str
    checkpoint: int
    head: int
    lag_events: int
    lag_seconds: float
    state: ProjectionState
    stalled: bool
    error: str | None = None
    holder: str | None = None
    delivered: int = 0
    skipped: int = 0
    moved_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    instances: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


class SagaDispatcher(FeedService):
    """Delivers the events its sagas read to their instances, through a ``SagaRunner``.

    A feed consumer with its own checkpoint (``saga:<name>`` on ``backend``), sharing the
    projector's and the relay's machinery: one runner across processes (a lease), pages from
    the checkpoint, the live feed, back-off on outages. For each event, each saga that reads
    its type maps it to an instance key and the runner gets ``deliver(saga, key, event)``
    (signal-with-start on Temporal). Up to ``lanes`` instances are delivered to at once, one
    instance's events in feed order. The checkpoint is saved only after the runner accepted
    every delivery of a page: a crash delivers the page again, and instances ignore events
    they were given before (delivery is at least once, the effect once).

    An event whose key cannot be read (it does not decode, the key function raised), or that
    the runner refuses for good, follows ``policy``: ``stop`` by default (the dispatcher is
    ``FAILED`` and its status says why), or ``skip`` (recorded, in ``failures()``).

    With ``telemetry`` (a runtime's ``Runtime.telemetry``), every batch is reported to it.
    """

    kind: ClassVar[str] = "saga"

    def __init__(
        self,
        events: EventStore,
        backend: ProjectionBackend,
        runner: SagaRunner,
        *,
        name: str,
        sagas: Iterable[Saga[Any]],
        lanes: int = 16,
        batch_size: int = 500,
        page_bytes: int = DEFAULT_LIMITS.page_bytes,
        policy: FailurePolicy = STOP_ON_ERROR,
        owner: str | None = None,
        lease_seconds: float = 5.0,
        stall_seconds: float = 60.0,
        on_progress: ProgressCallback | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        if not name.isidentifier():
            raise InvalidInputError(f"dispatcher name {name!r} must be an identifier")
        chosen = tuple(sagas)
        if not chosen:
            raise WiringError(f"dispatcher {name!r} has no sagas")
        if len({saga.name for saga in chosen}) < len(chosen):
            raise WiringError(f"dispatcher {name!r} has two sagas of one name")
        if lanes < 1 or batch_size < 1 or page_bytes < 1 or stall_seconds <= 0:
            raise InvalidInputError("lanes, batch_size, page_bytes and stall_seconds must be > 0")
        self.name = name
        self.runner = runner
        self.sagas = chosen
        self._dispatch = DispatchWork(
            name=f"saga:{name}",
            backend=backend,
            runner=runner,
            sagas=chosen,
            policy=policy,
            lanes=lanes,
            counts=DispatchCounts(),
        )
        super().__init__(
            events,
            backend,
            self._dispatch,
            owner=owner,
            lease_seconds=lease_seconds,
            batch_size=batch_size,
            page_bytes=page_bytes,
            stall_seconds=stall_seconds,
            on_progress=on_progress,
            telemetry=telemetry,
        )

    async def __aenter__(self) -> SagaDispatcher:
        await self._enter()
        return self

    async def catch_up(self) -> SagaDispatcherStatus:
        """Deliver every event up to the current head (or wait for the runner holding the
        lease to), then return the status. Raises the failure that stopped it here."""
        await self._catch_up()
        return await self.status()

    async def status(self) -> SagaDispatcherStatus:
        """Checkpoint, lag, state, stalled, errors, holder, counts and instances by status."""
        counts = self._dispatch.counts
        found = await self._service_status()
        last_error, last_error_at = found.last_error or (None, None)
        return SagaDispatcherStatus(
            name=self.name,
            checkpoint=found.checkpoint,
            head=found.head,
            lag_events=found.lag_events,
            lag_seconds=found.lag_seconds,
            state=found.state,
            stalled=found.stalled,
            error=found.error,
            holder=found.holder,
            delivered=counts.delivered,
            skipped=counts.skipped,
            moved_at=found.moved_at,
            last_error=last_error,
            last_error_at=last_error_at,
            instances={saga.name: dict(await self.runner.counts(saga.name)) for saga in self.sagas},
        )
