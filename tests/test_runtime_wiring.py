"""DepsModule and build_runtime: the wiring is checked at start and resources have a lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from forze.domain.errors import WiringError
from forze.execution import (
    DepsModule,
    ExecutionContext,
    PortKey,
    Resolver,
    Usecase,
    build_runtime,
)

GREETING: PortKey[str] = PortKey("greeting")
NAME: PortKey[str] = PortKey("name")
POOL: PortKey[str] = PortKey("pool")
CLIENT: PortKey[str] = PortKey("client")


async def _greet(ctx: ExecutionContext, payload: str | None) -> str:
    return ctx.port(GREETING, payload)


def greet_usecase(route: str | None = None) -> Usecase[str | None, str]:
    """A command needing the GREETING port under ``route``."""
    return Usecase.command("greet", _greet, (GREETING, route))


def tracked_resource(
    name: str, log: list[str], *, fail: bool = False
) -> Callable[[Resolver], AbstractAsyncContextManager[str]]:
    """A resource that records when it is opened and closed (or fails to open)."""

    @asynccontextmanager
    async def open_resource(_resolve: Resolver) -> AsyncIterator[str]:
        if fail:
            log.append(f"fail {name}")
            raise RuntimeError(f"{name} cannot open")
        log.append(f"open {name}")
        try:
            yield name
        finally:
            log.append(f"close {name}")

    return open_resource


# --- the wiring is checked when the runtime is built -------------------------------------------


def test_a_usecase_needing_a_port_no_module_provides_fails_at_build_naming_both() -> None:
    module = DepsModule("app").provide(NAME, "world")

    with pytest.raises(WiringError) as caught:
        build_runtime(module, usecases=[greet_usecase()])

    assert "greet" in str(caught.value)
    assert "greeting" in str(caught.value)


def test_a_usecase_needing_a_routed_port_fails_at_build_naming_the_route() -> None:
    module = DepsModule("app").provide(GREETING, "hello", route="orders")

    with pytest.raises(WiringError) as caught:
        build_runtime(module, usecases=[greet_usecase("audit")])

    assert "greet" in str(caught.value)
    assert "greeting" in str(caught.value)
    assert "audit" in str(caught.value)


def test_a_usecase_whose_ports_are_all_provided_builds() -> None:
    module = DepsModule("app").provide(GREETING, "hello")

    build_runtime(module, usecases=[greet_usecase(), greet_usecase("orders")])


def test_two_modules_providing_the_same_port_and_route_fail_naming_both_modules() -> None:
    first = DepsModule("postgres").provide(GREETING, "hello")
    second = DepsModule("mongo").provide(GREETING, "hi")

    with pytest.raises(WiringError) as caught:
        build_runtime(first, second)

    assert "postgres" in str(caught.value)
    assert "mongo" in str(caught.value)
    assert "greeting" in str(caught.value)


def test_two_modules_providing_the_same_routed_port_fail_naming_both_modules() -> None:
    first = DepsModule("postgres").provide(GREETING, "hello", route="orders")
    second = DepsModule("mongo").provide(GREETING, "hi", route="orders")

    with pytest.raises(WiringError) as caught:
        build_runtime(first, second)

    assert "postgres" in str(caught.value)
    assert "mongo" in str(caught.value)


async def test_two_modules_may_provide_the_same_port_on_different_routes() -> None:
    first = DepsModule("postgres").provide(GREETING, "hello")
    second = DepsModule("mongo").provide(GREETING, "hi", route="audit")

    async with build_runtime(first, second) as runtime:
        assert runtime.port(GREETING) == "hello"
        assert runtime.port(GREETING, "audit") == "hi"


def test_one_module_providing_the_same_port_twice_is_rejected() -> None:
    module = DepsModule("app").provide(GREETING, "hello")

    with pytest.raises(WiringError, match="app"):
        module.provide(GREETING, "hi")


# --- fallback modules ------------------------------------------------------------------------


async def test_a_fallback_provider_is_used_where_no_other_module_provides_the_port() -> None:
    real = DepsModule("app").provide(NAME, "world")
    mock = DepsModule("mock", fallback=True).provide(GREETING, "in-memory")

    async with build_runtime(real, mock, usecases=[greet_usecase()]) as runtime:
        assert runtime.port(GREETING) == "in-memory"
        assert runtime.port(NAME) == "world"


@pytest.mark.parametrize("fallback_first", [True, False])
async def test_a_real_provider_for_the_same_port_wins_over_a_fallback(
    fallback_first: bool,
) -> None:
    real = DepsModule("postgres").provide(GREETING, "real")
    mock = DepsModule("mock", fallback=True).provide(GREETING, "in-memory")
    modules = (mock, real) if fallback_first else (real, mock)

    async with build_runtime(*modules) as runtime:
        assert runtime.port(GREETING) == "real"


async def test_a_real_routed_provider_wins_for_its_route_and_the_fallback_serves_the_rest() -> None:
    mock = DepsModule("mock", fallback=True).provide(GREETING, "in-memory")
    real = DepsModule("postgres").provide(GREETING, "real", route="orders")

    async with build_runtime(mock, real) as runtime:
        assert runtime.port(GREETING, "orders") == "real"
        assert runtime.port(GREETING, "audit") == "in-memory"
        assert runtime.port(GREETING) == "in-memory"


async def test_a_real_default_provider_wins_over_a_fallback_routed_to_a_spec() -> None:
    # The real module provides the port for every spec; a fallback only provides what no
    # other module provides, so its provider for "orders" must not shadow the real one.
    mock = DepsModule("mock", fallback=True).provide(GREETING, "in-memory", route="orders")
    real = DepsModule("postgres").provide(GREETING, "real")

    async with build_runtime(mock, real) as runtime:
        assert runtime.port(GREETING) == "real"
        assert runtime.port(GREETING, "orders") == "real"


async def test_a_port_provided_by_two_fallback_modules_is_not_a_wiring_error() -> None:
    first = DepsModule("mock", fallback=True).provide(GREETING, "first")
    second = DepsModule("other-mock", fallback=True).provide(GREETING, "second")

    async with build_runtime(first, second) as runtime:
        assert runtime.port(GREETING) in {"first", "second"}


# --- routing ---------------------------------------------------------------------------------


async def test_routing_by_spec_name_falls_back_to_the_default_route() -> None:
    module = (
        DepsModule("app")
        .provide(GREETING, "default")
        .provide(GREETING, "for orders", route="orders")
    )

    async with build_runtime(module) as runtime:
        assert runtime.port(GREETING, "orders") == "for orders"
        assert runtime.port(GREETING, "audit") == "default"
        assert runtime.port(GREETING) == "default"
        assert await runtime.execute(greet_usecase("orders"), "orders") == "for orders"
        assert await runtime.execute(greet_usecase("audit"), "audit") == "default"


async def test_a_routed_port_without_a_default_is_missing_for_other_routes() -> None:
    module = DepsModule("app").provide(GREETING, "for orders", route="orders")

    async with build_runtime(module) as runtime:
        assert runtime.port(GREETING, "orders") == "for orders"
        with pytest.raises(WiringError, match="greeting"):
            runtime.port(GREETING, "audit")
        with pytest.raises(WiringError, match="greeting"):
            runtime.port(GREETING)


async def test_a_port_no_module_provides_raises_wiring_error_naming_it() -> None:
    async with build_runtime(DepsModule("app")) as runtime:
        with pytest.raises(WiringError, match="greeting"):
            runtime.port(GREETING)


async def test_executing_a_usecase_not_given_at_build_still_checks_its_ports() -> None:
    async with build_runtime(DepsModule("app").provide(NAME, "world")) as runtime:
        with pytest.raises(WiringError, match="greet"):
            await runtime.execute(greet_usecase(), None)


# --- factories -------------------------------------------------------------------------------


async def test_a_factory_can_resolve_other_ports() -> None:
    module = (
        DepsModule("app")
        .provide_factory(GREETING, lambda resolve: f"hello {resolve(NAME)}")
        .provide(NAME, "world")
    )

    async with build_runtime(module) as runtime:
        assert runtime.port(GREETING) == "hello world"


async def test_a_factory_can_resolve_ports_of_another_module_by_route() -> None:
    greetings = DepsModule("greetings").provide_factory(
        GREETING, lambda resolve: f"hello {resolve(NAME, 'orders')}"
    )
    names = DepsModule("names").provide(NAME, "default").provide(NAME, "orders", route="orders")

    async with build_runtime(greetings, names) as runtime:
        assert runtime.port(GREETING) == "hello orders"


async def test_a_factory_is_called_once_per_runtime() -> None:
    calls: list[str] = []

    def make_greeting(_resolve: Resolver) -> str:
        calls.append("made")
        return "hello"

    module = DepsModule("app").provide_factory(GREETING, make_greeting)

    async with build_runtime(module) as runtime:
        first = runtime.port(GREETING)
        second = runtime.port(GREETING)

    assert first == second == "hello"
    assert calls == ["made"]


async def test_a_factory_that_depends_on_itself_raises_wiring_error() -> None:
    module = DepsModule("app").provide_factory(GREETING, lambda resolve: resolve(GREETING))

    with pytest.raises(WiringError, match="greeting"):
        async with build_runtime(module):
            pass


async def test_factories_that_depend_on_each_other_raise_wiring_error() -> None:
    module = (
        DepsModule("app")
        .provide_factory(GREETING, lambda resolve: resolve(NAME))
        .provide_factory(NAME, lambda resolve: resolve(GREETING))
    )

    with pytest.raises(WiringError):
        async with build_runtime(module):
            pass


# --- resources -------------------------------------------------------------------------------


async def test_resources_are_entered_on_start_and_exited_in_reverse_order() -> None:
    log: list[str] = []
    module = (
        DepsModule("app")
        .provide_resource(POOL, tracked_resource("pool", log))
        .provide_resource(CLIENT, tracked_resource("client", log))
    )
    runtime = build_runtime(module)
    assert log == []

    async with runtime:
        assert log == ["open pool", "open client"]
        assert runtime.port(POOL) == "pool"
        assert runtime.port(CLIENT) == "client"

    assert log == ["open pool", "open client", "close client", "close pool"]


async def test_resources_of_several_modules_are_exited_in_reverse_order() -> None:
    log: list[str] = []
    first = DepsModule("first").provide_resource(POOL, tracked_resource("pool", log))
    second = DepsModule("second").provide_resource(CLIENT, tracked_resource("client", log))

    async with build_runtime(first, second):
        pass

    assert log == ["open pool", "open client", "close client", "close pool"]


async def test_when_a_later_resource_fails_to_open_the_earlier_ones_are_still_closed() -> None:
    log: list[str] = []
    module = (
        DepsModule("app")
        .provide_resource(POOL, tracked_resource("pool", log))
        .provide_resource(CLIENT, tracked_resource("client", log))
        .provide_resource(GREETING, tracked_resource("greeting", log, fail=True))
    )
    runtime = build_runtime(module)

    with pytest.raises(RuntimeError, match="greeting cannot open"):
        async with runtime:
            pytest.fail("the body must not run when a resource fails to open")

    assert log == ["open pool", "open client", "fail greeting", "close client", "close pool"]
    with pytest.raises(WiringError):
        runtime.port(POOL)


async def test_when_a_factory_fails_at_start_the_opened_resources_are_closed() -> None:
    log: list[str] = []

    def broken(_resolve: Resolver) -> str:
        raise RuntimeError("factory broke")

    module = (
        DepsModule("app")
        .provide_resource(POOL, tracked_resource("pool", log))
        .provide_factory(GREETING, broken)
    )

    with pytest.raises(RuntimeError, match="factory broke"):
        async with build_runtime(module):
            pass

    assert log == ["open pool", "close pool"]


async def test_resources_are_closed_when_the_body_raises() -> None:
    log: list[str] = []
    module = (
        DepsModule("app")
        .provide_resource(POOL, tracked_resource("pool", log))
        .provide_resource(CLIENT, tracked_resource("client", log))
    )

    with pytest.raises(LookupError):
        async with build_runtime(module):
            raise LookupError("the application failed")

    assert log == ["open pool", "open client", "close client", "close pool"]


async def test_a_factory_can_use_a_resource() -> None:
    log: list[str] = []
    module = (
        DepsModule("app")
        .provide_resource(POOL, tracked_resource("pool", log))
        .provide_factory(CLIENT, lambda resolve: f"client over {resolve(POOL)}")
    )

    async with build_runtime(module) as runtime:
        assert runtime.port(CLIENT) == "client over pool"


async def test_a_resource_can_use_a_resource_declared_before_it() -> None:
    @asynccontextmanager
    async def open_client(resolve: Resolver) -> AsyncIterator[str]:
        yield f"client over {resolve(POOL)}"

    log: list[str] = []
    module = (
        DepsModule("app")
        .provide_resource(POOL, tracked_resource("pool", log))
        .provide_resource(CLIENT, open_client)
    )

    async with build_runtime(module) as runtime:
        assert runtime.port(CLIENT) == "client over pool"


async def test_a_resource_needing_a_resource_declared_after_it_raises_wiring_error() -> None:
    @asynccontextmanager
    async def open_client(resolve: Resolver) -> AsyncIterator[str]:
        yield f"client over {resolve(POOL)}"

    log: list[str] = []
    module = (
        DepsModule("app")
        .provide_resource(CLIENT, open_client)
        .provide_resource(POOL, tracked_resource("pool", log))
    )

    with pytest.raises(WiringError, match="pool"):
        async with build_runtime(module):
            pass

    assert log == []


# --- the runtime only serves ports while it runs -----------------------------------------------


def test_a_port_requested_before_async_with_raises_wiring_error() -> None:
    runtime = build_runtime(DepsModule("app").provide(GREETING, "hello"))

    with pytest.raises(WiringError, match="async with"):
        runtime.port(GREETING)


async def test_a_port_requested_after_async_with_raises_wiring_error() -> None:
    runtime = build_runtime(DepsModule("app").provide(GREETING, "hello"))
    async with runtime:
        assert runtime.port(GREETING) == "hello"

    with pytest.raises(WiringError, match="async with"):
        runtime.port(GREETING)


async def test_a_usecase_executed_outside_async_with_raises_wiring_error() -> None:
    runtime = build_runtime(DepsModule("app").provide(GREETING, "hello"))

    with pytest.raises(WiringError):
        await runtime.execute(greet_usecase(), None)
