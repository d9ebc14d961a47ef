"""Declaring which adapter provides which port: :class:`DepsModule`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from forze.domain.errors import WiringError
from forze.execution.keys import PortKey

__all__ = ["DepsModule", "Provider", "Resolver"]

T = TypeVar("T")


class Resolver(Protocol):
    """Resolves another port while a provider builds its own (e.g. a repository needs a store)."""

    def __call__(self, key: PortKey[T], route: str | None = None) -> T:
        """The port under ``key`` for ``route`` (falling back to the default route)."""
        ...


@dataclass(frozen=True, slots=True)
class Provider:
    """How one port is made: a ready instance, a factory, or an async resource.

    Exactly one of ``instance``, ``factory`` and ``resource`` is set. A resource is entered when
    the runtime starts and exited when it stops (pools, clients, background tasks).
    """

    key: PortKey[Any]
    route: str | None
    instance: Any = None
    factory: Callable[[Resolver], Any] | None = None
    resource: Callable[[Resolver], AbstractAsyncContextManager[Any]] | None = None
    fallback: bool = False
    module: str = ""


class DepsModule:
    """A named group of port providers, usually one per adapter package.

    ``route`` routes a port by spec name (an event store for ``orders``, another for
    ``audit``); ``None`` is the default for every spec. A module made with ``fallback=True``
    (like ``forze_mock.MockDepsModule``) only provides what no other module provides.
    """

    def __init__(self, name: str, *, fallback: bool = False) -> None:
        self.name = name
        self.fallback = fallback
        self._providers: dict[tuple[str, str | None], Provider] = {}

    def provide(self, key: PortKey[T], instance: T, *, route: str | None = None) -> DepsModule:
        """Provide a ready instance of the port."""
        return self._add(key, route, instance=instance)

    def provide_factory(
        self, key: PortKey[T], factory: Callable[[Resolver], T], *, route: str | None = None
    ) -> DepsModule:
        """Provide the port by calling ``factory(resolve)`` once when the runtime starts."""
        return self._add(key, route, factory=factory)

    def provide_resource(
        self,
        key: PortKey[T],
        resource: Callable[[Resolver], AbstractAsyncContextManager[T]],
        *,
        route: str | None = None,
    ) -> DepsModule:
        """Provide the port as an async context manager entered for the runtime's lifetime."""
        return self._add(key, route, resource=resource)

    def providers(self) -> Iterator[Provider]:
        """The providers in the order they were declared."""
        return iter(self._providers.values())

    def _add(self, key: PortKey[Any], route: str | None, **how: Any) -> DepsModule:
        slot = (key.name, route)
        if slot in self._providers:
            where = f" for route {route!r}" if route else ""
            raise WiringError(f"module {self.name!r} provides port {key}{where} twice")
        self._providers[slot] = Provider(
            key, route, fallback=self.fallback, module=self.name, **how
        )
        return self
