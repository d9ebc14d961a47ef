"""Execution: contexts, usecases, dependency modules, the runtime and middleware."""

from forze.execution.backoff import Backoff
from forze.execution.context import ExecutionContext, OperationKind
from forze.execution.deps import DepsModule, Provider, Resolver
from forze.execution.keys import (
    AGGREGATES,
    CACHE,
    CHECKPOINTS,
    COMMAND_PORTS,
    COUNTER,
    EVENT_STORE,
    IDEMPOTENCY,
    OBJECTS,
    PUBLISHER,
    READ_MODELS,
    SAGAS,
    SNAPSHOTS,
    TELEMETRY,
    PortKey,
)
from forze.execution.middleware import logging_middleware, retry_on_conflict
from forze.execution.runtime import Runtime, build_runtime
from forze.execution.usecase import Handler, Middleware, PortNeed, Requirement, Route, Usecase
from forze.execution.views import APPENDS, EventStoreView, ReadModelView, ReadOnlyEventStore

__all__ = [
    "AGGREGATES",
    "APPENDS",
    "CACHE",
    "CHECKPOINTS",
    "COMMAND_PORTS",
    "COUNTER",
    "EVENT_STORE",
    "IDEMPOTENCY",
    "OBJECTS",
    "PUBLISHER",
    "READ_MODELS",
    "SAGAS",
    "SNAPSHOTS",
    "TELEMETRY",
    "Backoff",
    "DepsModule",
    "EventStoreView",
    "ExecutionContext",
    "Handler",
    "Middleware",
    "OperationKind",
    "PortKey",
    "PortNeed",
    "Provider",
    "ReadModelView",
    "ReadOnlyEventStore",
    "Requirement",
    "Resolver",
    "Route",
    "Runtime",
    "Usecase",
    "build_runtime",
    "logging_middleware",
    "retry_on_conflict",
]
