"""The per-operation :class:`ExecutionContext`."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import uuid4

from pydantic import BaseModel

from forze.contracts import (
    AggregateRepository,
    AppendResult,
    EventIds,
    EventStore,
    ReadModelReader,
    ReadModelSpec,
    Telemetry,
    UnitOfWork,
)
from forze.domain.aggregate import Aggregate
from forze.domain.errors import ReadOnlyOperationError
from forze.domain.spec import AggregateSpec
from forze.execution._observed import ObservedEventStore
from forze.execution._tracked import ContextRepository
from forze.execution._unit import RoutedUnitOfWork
from forze.execution.deps import Resolver
from forze.execution.keys import AGGREGATES, COMMAND_PORTS, EVENT_STORE, READ_MODELS, PortKey
from forze.execution.views import ReadModelView, ReadOnlyEventStore

__all__ = ["ExecutionContext", "OperationKind"]

A = TypeVar("A", bound=Aggregate[Any])
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


class OperationKind(enum.Enum):
    """Whether an operation may change state (``COMMAND``) or only read (``QUERY``)."""

    COMMAND = "command"
    QUERY = "query"


@dataclass(frozen=True, slots=True)
class ExecutionContext:
    """Everything one operation may use: who asked, why, and access to ports.

    ``correlation_id`` ties together everything caused by one request; ``causation_id`` names
    the message that caused this operation. Both, with ``tenant`` and ``actor``, are stamped on
    every event the operation saves. With ``event_ids`` (a consumer sets it from the message
    id) the events saved through :meth:`aggregates` get ids derived from it instead of random
    ones, so handling the same message again appends nothing new. A ``QUERY`` context refuses
    command ports. ``usecase`` is the name of the usecase ``Runtime.execute`` runs in it.
    """

    resolve: Resolver
    kind: OperationKind = OperationKind.COMMAND
    correlation_id: str = field(default_factory=lambda: str(uuid4()))
    causation_id: str | None = None
    tenant: str | None = None
    actor: str | None = None
    event_ids: EventIds | None = None
    usecase: str | None = None
    expected_version: int | None = None
    """The version the caller expects the aggregate this command changes to be at (an HTTP
    ``If-Match``): the operation's first save through :meth:`aggregates` raises
    ``ConcurrencyError`` when that aggregate was loaded at another version (``NO_STREAM``
    is 0), and ``retry_on_conflict`` lets that error reach the caller."""
    saved: list[AppendResult] = field(default_factory=list)
    """What the operation stored through :meth:`aggregates` and :meth:`unit_of_work`, in
    order (an HTTP layer answers with the new version as the ``ETag``)."""
    telemetry: Telemetry | None = None
    """The runtime's observer (``Runtime.telemetry``): the operation's saves are reported to
    it, and :meth:`event_metadata` carries its trace context."""

    def port(self, key: PortKey[T], route: str | None = None) -> T:
        """The port under ``key`` (routed by spec name when ``route`` is given)."""
        if self.kind is OperationKind.QUERY:
            if key in COMMAND_PORTS:
                raise ReadOnlyOperationError(f"a query operation cannot use the {key} port")
            if key == EVENT_STORE:
                read_only: T = ReadOnlyEventStore(self.resolve(EVENT_STORE, route))  # type: ignore[assignment]
                return read_only
        elif self.telemetry is not None and key == EVENT_STORE:
            store = self.resolve(EVENT_STORE, route)
            ids = self.correlation_id, self.causation_id
            observed: T = ObservedEventStore(store, self.telemetry, *ids)  # type: ignore[assignment]
            return observed
        return self.resolve(key, route)

    @property
    def events(self) -> EventStore:
        """The event store; read-only in a query operation."""
        return self.port(EVENT_STORE)

    def aggregates(self, spec: AggregateSpec[A]) -> AggregateRepository[A]:
        """The repository of ``spec``, stamping this context's metadata (and ids, with
        ``event_ids``) on saved events."""
        repositories = self.port(AGGREGATES, spec.name)
        if self.event_ids is None:
            inner = repositories(spec, metadata=self.event_metadata())
        else:
            inner = repositories(spec, metadata=self.event_metadata(), event_ids=self.event_ids)
        return ContextRepository(inner, self)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        """Change several aggregates and save them together, all or none, when the block
        ends without an error::

            async with ctx.unit_of_work() as unit:
                stock = await unit.aggregates(STOCK).load(sku)
                order = await unit.aggregates(ORDERS).load(order_id)
                stock.reserve(quantity)
                order.add_line(sku, quantity)

        Aggregates loaded or created through ``unit.aggregates(spec)`` are appended in one
        atomic ``append_many`` with this context's metadata (and ``event_ids``), inline
        projections included; a concurrent change to any of them raises ``ConcurrencyError``
        and stores nothing (``retry_on_conflict`` runs the usecase again). Every spec must be
        stored in one event store: another raises ``WiringError``. A query refuses it.
        ``await unit.commit()`` inside the block commits early and returns what was stored.
        """
        unit = RoutedUnitOfWork(self)
        yield unit
        await unit.commit()

    def read_models(self, spec: ReadModelSpec[M]) -> ReadModelReader[M]:
        """The read model ``spec``, to read: projections write read models, usecases read
        them (a write through it raises ``ReadOnlyOperationError``)."""
        return ReadModelView(self.resolve(READ_MODELS, spec.name)(spec))

    def event_metadata(self) -> dict[str, Any]:
        """Metadata to stamp on events saved by this operation (unset fields left out); with
        a ``telemetry``, its trace context too (``traceparent``, ``tracestate``)."""
        metadata: dict[str, Any] = {"correlation_id": self.correlation_id}
        if self.causation_id is not None:
            metadata["causation_id"] = self.causation_id
        if self.tenant is not None:
            metadata["tenant"] = self.tenant
        if self.actor is not None:
            metadata["actor"] = self.actor
        if self.telemetry is not None:
            metadata.update(self.telemetry.trace_context())
        return metadata
