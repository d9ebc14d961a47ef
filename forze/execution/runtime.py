"""Composition: :func:`build_runtime` validates the wiring and runs adapter lifecycles."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import replace
from types import TracebackType
from typing import Any, TypeVar
from uuid import uuid4

from forze.contracts import AppendResult, EventIds, Telemetry
from forze.domain.errors import InvalidInputError, WiringError
from forze.domain.spec import AggregateSpec
from forze.execution._payloads import PayloadTypes, described
from forze.execution._specs import SpecNames
from forze.execution.context import ExecutionContext, OperationKind
from forze.execution.deps import DepsModule, Provider
from forze.execution.keys import AGGREGATES, READ_MODELS, TELEMETRY, PortKey
from forze.execution.usecase import Handler, Middleware, Usecase

__all__ = ["Runtime", "build_runtime"]

C = TypeVar("C")
R = TypeVar("R")
T = TypeVar("T")

_Slot = tuple[str, str | None]


_SPEC_ROUTED: frozenset[PortKey[Any]] = frozenset({AGGREGATES, READ_MODELS})
"""Ports routed by a spec: a requirement names the spec object, never only its name."""


def build_runtime(
    *modules: DepsModule,
    usecases: Iterable[Usecase[Any, Any]] = (),
    middleware: Sequence[Middleware] = (),
) -> Runtime:
    """Merge ``modules`` into a runtime, failing fast when the wiring is wrong.

    Raises ``WiringError`` when two non-fallback modules provide the same port and route,
    when a usecase requires a port that no module provides (the message names both), when
    two usecases require different specs under one name (``(AGGREGATES, OLD_ORDERS)`` and
    ``(AGGREGATES, ORDERS)`` both named ``order``: each would decode the other's events with
    its own codec), and when a usecase's payload annotation names a type its handler's module
    cannot see. Use the result as ``async with build_runtime(...) as runtime:`` so resources
    open and close.
    """
    providers: dict[_Slot, Provider] = {}
    for fallback_pass in (False, True):
        for module in modules:
            if module.fallback is not fallback_pass:
                continue
            for provider in module.providers():
                slot = (provider.key.name, provider.route)
                taken = providers.get(slot)
                if taken is None:
                    providers[slot] = provider
                elif not taken.fallback:
                    if fallback_pass:
                        continue
                    raise WiringError(
                        f"port {provider.key}{_route_text(provider.route)} is provided by both "
                        f"{taken.module!r} and {provider.module!r}"
                    )
    runtime = Runtime(providers, tuple(middleware))
    for usecase in usecases:
        runtime.check(usecase)
    return runtime


class Runtime:
    """A composed application: resolved ports, middleware, and ``execute`` for usecases."""

    def __init__(self, providers: dict[_Slot, Provider], middleware: tuple[Middleware, ...]):
        self._providers = providers
        self._middleware = middleware
        self._built: dict[_Slot, Any] = {}
        self._building: set[_Slot] = set()
        self._stack: AsyncExitStack | None = None
        self._specs = SpecNames()
        self._telemetry: Telemetry | None = None

    async def __aenter__(self) -> Runtime:
        self._stack = AsyncExitStack()
        await self._stack.__aenter__()
        try:
            for slot, provider in self._providers.items():
                if provider.resource is not None:
                    manager = provider.resource(self.port)
                    self._built[slot] = await self._stack.enter_async_context(manager)
            for slot in self._providers:
                self._build(slot)
            self._telemetry = self._built.get((TELEMETRY.name, None))
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        self._built.clear()
        self._telemetry = None
        if stack is not None:
            await stack.__aexit__(exc_type, exc, tb)

    def check(self, usecase: Usecase[Any, Any]) -> None:
        """Raise ``WiringError`` unless every port ``usecase`` requires is provided, each spec
        it names is the only spec of this runtime with that name, and its payload annotation
        can be resolved."""
        self._admit(usecase)

    def _admit(self, usecase: Usecase[Any, Any]) -> PayloadTypes | None:
        """:meth:`check` ``usecase``; the classes its payload may be (``None``: anything)."""
        for key, route in usecase.needs:
            name = route if route is None or isinstance(route, str) else route.name
            if self._slot_of(key, name) is None:
                raise WiringError(
                    f"usecase {usecase.name!r} needs port {key}{_route_text(name)}, "
                    "which no module provides"
                )
        for key, route in usecase.needs:
            if isinstance(route, str) and key in _SPEC_ROUTED:
                raise WiringError(
                    f"usecase {usecase.name!r} names the {key} port's spec by its name"
                    f" {route!r}: name the spec object itself, as in ({key.name.upper()},"
                    " ORDERS), so that two different specs under one name are refused here"
                )
            if route is not None and not isinstance(route, str):
                self._specs.admit(route, usecase.name)
        return self._payload_types(usecase)

    @property
    def aggregate_specs(self) -> tuple[AggregateSpec[Any], ...]:
        """The aggregate specs the runtime's usecases declare (given to ``build_runtime``),
        each once: what tools such as ``forze events verify`` decode the stored events with."""
        return self._specs.aggregates()

    @property
    def telemetry(self) -> Telemetry | None:
        """The observer a module provides as the ``TELEMETRY`` port while the runtime runs
        (``None``: none, or not running); give it to a ``Relay``, a ``SagaDispatcher`` or a
        ``Projector`` built by hand so that they report to it too."""
        return self._telemetry

    def port(self, key: PortKey[T], route: str | None = None) -> T:
        """The port under ``key`` for ``route``, falling back to the default route."""
        slot = self._slot_of(key, route)
        if slot is None:
            raise WiringError(f"no module provides port {key}{_route_text(route)}")
        if self._stack is None:
            raise WiringError("the runtime is not running: use 'async with build_runtime(...)'")
        value: T = self._build(slot)
        return value

    def context(
        self,
        kind: OperationKind = OperationKind.COMMAND,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        tenant: str | None = None,
        actor: str | None = None,
        event_ids_from: str | None = None,
        expected_version: int | None = None,
        saved: list[AppendResult] | None = None,
    ) -> ExecutionContext:
        """A fresh context for one operation; with ``event_ids_from`` (a message id) the
        events it saves get ids derived from it (:class:`~forze.contracts.EventIds`).
        ``expected_version`` and ``saved``: see ``ExecutionContext`` (``saved`` is the list
        the context records its appends in, so a caller can read them afterwards)."""
        return ExecutionContext(
            resolve=self.port,
            kind=kind,
            correlation_id=correlation_id or str(uuid4()),
            causation_id=causation_id,
            tenant=tenant,
            actor=actor,
            event_ids=None if event_ids_from is None else EventIds(event_ids_from),
            expected_version=expected_version,
            saved=[] if saved is None else saved,
            telemetry=self._telemetry,
        )

    async def execute(
        self,
        usecase: Usecase[C, R],
        payload: C,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        tenant: str | None = None,
        actor: str | None = None,
        event_ids_from: str | None = None,
        expected_version: int | None = None,
        saved: list[AppendResult] | None = None,
    ) -> R:
        """Run ``usecase`` with ``payload`` in a new context, through the middleware chain.

        A payload that is not of the type its handler's annotation names (``Withdraw`` given
        to a usecase taking ``Deposit``, a dict for a command) raises ``InvalidInputError``
        before the usecase or any middleware runs. ``event_ids_from``, ``expected_version``
        and ``saved``: see :meth:`context`. With a :attr:`telemetry`, the run (middleware
        included) is reported to it as one operation.
        """
        accepted = self._admit(usecase)
        if accepted is not None and not isinstance(payload, accepted):
            raise InvalidInputError(
                f"usecase {usecase.name!r} takes a payload of type {described(accepted)},"
                f" got {type(payload).__qualname__}"
            )
        ctx = self.context(
            usecase.kind,
            correlation_id=correlation_id,
            causation_id=causation_id,
            tenant=tenant,
            actor=actor,
            event_ids_from=event_ids_from,
            expected_version=expected_version,
            saved=saved,
        )
        ctx = replace(ctx, usecase=usecase.name)
        call: Handler = usecase.handler
        for layer in reversed(self._middleware):
            call = _wrap(layer, call)
        telemetry = self._telemetry
        if telemetry is None:
            result: R = await call(ctx, payload)
            return result
        with telemetry.operation(
            usecase.name, usecase.kind.value, ctx.correlation_id, ctx.causation_id
        ):
            traced: R = await call(ctx, payload)
        return traced

    @staticmethod
    def _payload_types(usecase: Usecase[Any, Any]) -> PayloadTypes | None:
        try:
            return usecase.payload_types()
        except Exception as error:  # evaluating the annotation: NameError, TypeError, ...
            raise WiringError(
                f"usecase {usecase.name!r}: the payload annotation of its handler cannot be"
                f" resolved ({type(error).__name__}: {error}); annotate it with a type the"
                " handler's module defines or imports, or with Any"
            ) from error

    def _slot_of(self, key: PortKey[Any], route: str | None) -> _Slot | None:
        """The exact route, then the default; a real provider always before a fallback."""
        candidates = [s for s in ((key.name, route), (key.name, None)) if s in self._providers]
        real = [s for s in candidates if not self._providers[s].fallback]
        chosen = real or candidates
        return chosen[0] if chosen else None

    def _build(self, slot: _Slot) -> Any:
        if slot in self._built:
            return self._built[slot]
        provider = self._providers[slot]
        if provider.resource is not None:
            raise WiringError(
                f"port {provider.key} is a resource that is not open yet: declare the "
                "resources a provider needs before it"
            )
        if slot in self._building:
            raise WiringError(f"port {provider.key} depends on itself")
        self._building.add(slot)
        try:
            value = provider.instance if provider.factory is None else provider.factory(self.port)
        finally:
            self._building.discard(slot)
        self._built[slot] = value
        return value


def _wrap(layer: Middleware, call_next: Handler) -> Handler:
    async def wrapped(ctx: ExecutionContext, payload: Any) -> Any:
        return await layer(ctx, payload, call_next)

    return wrapped


def _route_text(route: str | None) -> str:
    return f" (route {route!r})" if route else ""
