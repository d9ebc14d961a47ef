"""Usecases: named application operations, and the middleware that wraps them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeAlias, TypeVar

from forze.contracts import ReadModelSpec
from forze.domain.errors import WiringError
from forze.domain.spec import AggregateSpec
from forze.execution._payloads import payload_types
from forze.execution.context import ExecutionContext, OperationKind
from forze.execution.keys import AGGREGATES, READ_MODELS, PortKey

__all__ = ["Handler", "Middleware", "Requirement", "Usecase"]

C = TypeVar("C")
R = TypeVar("R")

Handler: TypeAlias = Callable[[ExecutionContext, Any], Awaitable[Any]]
"""The shape every usecase handler has once middleware is applied."""

Middleware: TypeAlias = Callable[[ExecutionContext, Any, Handler], Awaitable[Any]]
"""``middleware(ctx, payload, call_next)``: wraps a usecase; must await ``call_next``."""

Route: TypeAlias = str | AggregateSpec[Any] | ReadModelSpec[Any] | None
"""What a port is looked up by: a spec (its name), a name, or ``None`` for the default."""

PortNeed: TypeAlias = tuple[PortKey[Any], Route]
"""A port a usecase needs and the route it is looked up by."""

Requirement: TypeAlias = AggregateSpec[Any] | ReadModelSpec[Any] | PortKey[Any] | PortNeed
"""What a usecase declares it needs: a spec itself (``ACCOUNTS`` means the aggregate port
routed by ``ACCOUNTS``, ``BALANCES`` the read-model port routed by ``BALANCES``), a port key
(``PUBLISHER``: its default route), or a ``(key, route)`` pair (``(EVENT_STORE, "audit")``).
Naming the spec object lets ``build_runtime`` refuse two different specs under one name."""


def _shown(item: object) -> str:
    """``item`` as a short text for an error message (specs by name, not by their repr)."""
    if isinstance(item, tuple):
        return (
            "(" + ", ".join(_shown(part) for part in item) + ("," if len(item) == 1 else "") + ")"
        )
    if isinstance(item, AggregateSpec | ReadModelSpec):
        return f"{type(item).__name__} {item.name!r}"
    if isinstance(item, PortKey):
        return item.name.upper()
    text = repr(item)
    return text if len(text) <= 80 else f"{text[:77]}..."


def _need(requirement: object, usecase: str) -> PortNeed:
    """``requirement`` as the port and route it means; ``WiringError`` if it is none."""
    if isinstance(requirement, AggregateSpec):
        return AGGREGATES, requirement
    if isinstance(requirement, ReadModelSpec):
        return READ_MODELS, requirement
    if isinstance(requirement, PortKey):
        return requirement, None
    if (
        isinstance(requirement, tuple)
        and len(requirement) == 2
        and isinstance(requirement[0], PortKey)
        and isinstance(requirement[1], str | AggregateSpec | ReadModelSpec | None)
    ):
        return requirement[0], requirement[1]
    raise WiringError(
        f"usecase {usecase!r} declares {_shown(requirement)}, which is not a requirement: name a"
        " spec (ACCOUNTS, BALANCES), a port key (PUBLISHER) or a (port key, route) pair"
        " (EVENT_STORE, 'audit'), each as its own argument"
    )


@dataclass(frozen=True, slots=True)
class Usecase(Generic[C, R]):
    """A named operation: ``handler(ctx, payload)``, whether it writes, and the ports it needs.

    ``requires`` lists what it needs (see ``Requirement``), checked by ``build_runtime`` so
    that a missing adapter fails at start-up, not on the first request, and so that two
    different specs under one name are refused; something else raises ``WiringError`` here.
    The payload's annotation in ``handler`` is what ``Runtime.execute`` accepts: a payload
    of another type raises ``InvalidInputError`` (``Any`` accepts anything).
    """

    name: str
    handler: Callable[[ExecutionContext, C], Awaitable[R]]
    kind: OperationKind = OperationKind.COMMAND
    requires: tuple[Requirement, ...] = ()
    _needs: tuple[PortNeed, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        needs = tuple(_need(requirement, self.name) for requirement in self.requires)
        object.__setattr__(self, "_needs", needs)  # a frozen dataclass sets derived fields so

    @property
    def needs(self) -> tuple[PortNeed, ...]:
        """Each requirement as the port and route it means."""
        return self._needs

    def payload_types(self) -> tuple[type[Any], ...] | None:
        """The classes the handler's payload annotation admits (``None``: anything, or an
        annotation ``isinstance`` cannot check); an entry point builds its request body from
        them. Raises what evaluating the annotation raises (``NameError``...)."""
        return payload_types(self.handler)

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
