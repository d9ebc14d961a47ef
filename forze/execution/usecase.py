"""Usecases: named application operations, and the middleware that wraps them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeAlias, TypeVar

from forze.contracts import ReadModelSpec
from forze.domain.spec import AggregateSpec
from forze.execution.context import ExecutionContext, OperationKind
from forze.execution.keys import PortKey

__all__ = ["Handler", "Middleware", "Requirement", "Usecase"]

C = TypeVar("C")
R = TypeVar("R")

Handler: TypeAlias = Callable[[ExecutionContext, Any], Awaitable[Any]]
"""The shape every usecase handler has once middleware is applied."""

Middleware: TypeAlias = Callable[[ExecutionContext, Any, Handler], Awaitable[Any]]
"""``middleware(ctx, payload, call_next)``: wraps a usecase; must await ``call_next``."""

Requirement: TypeAlias = tuple[PortKey[Any], str | AggregateSpec[Any] | ReadModelSpec[Any] | None]
"""A port a usecase needs, with the route it is looked up by, or ``None`` for the default.
The aggregate and read-model ports are routed by the spec object itself, as
in ``(AGGREGATES, ACCOUNTS)``, so that ``build_runtime`` refuses two different specs under one
name; other ports may be routed by a name, as in ``(EVENT_STORE, "audit")``."""


@dataclass(frozen=True, slots=True)
class Usecase(Generic[C, R]):
    """A named operation: ``handler(ctx, payload)``, whether it writes, and the ports it needs.

    ``requires`` is checked by ``build_runtime`` so that a missing adapter fails at start-up,
    not on the first request, and so that two different specs under one name are refused.
    The payload's annotation in ``handler`` is what ``Runtime.execute`` accepts: a payload
    of another type raises ``InvalidInputError`` (``Any`` accepts anything).
    """

    name: str
    handler: Callable[[ExecutionContext, C], Awaitable[R]]
    kind: OperationKind = OperationKind.COMMAND
    requires: tuple[Requirement, ...] = ()

    @classmethod
    def command(
        cls,
        name: str,
        handler: Callable[[ExecutionContext, C], Awaitable[R]],
        *requires: Requirement,
    ) -> Usecase[C, R]:
        """A usecase that may change state."""
        return cls(name, handler, OperationKind.COMMAND, requires)

    @classmethod
    def query(
        cls,
        name: str,
        handler: Callable[[ExecutionContext, C], Awaitable[R]],
        *requires: Requirement,
    ) -> Usecase[C, R]:
        """A read-only usecase: command ports are refused inside it."""
        return cls(name, handler, OperationKind.QUERY, requires)
