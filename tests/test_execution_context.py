"""ExecutionContext and Runtime.execute: read-only queries, event metadata and middleware."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, cast

import pytest

from forze.contracts import (
    AggregateRepository,
    EventIds,
    Message,
    NewEvent,
    RecordedEvent,
    UnitOfWork,
)
from forze.domain import Aggregate, AggregateSpec, DomainEvent, EventType
from forze.domain.errors import ConcurrencyError, DomainError, ReadOnlyOperationError
from forze.execution import (
    AGGREGATES,
    EVENT_STORE,
    PUBLISHER,
    READ_MODELS,
    SAGAS,
    DepsModule,
    ExecutionContext,
    Handler,
    Middleware,
    OperationKind,
    PortKey,
    Runtime,
    Usecase,
    build_runtime,
    logging_middleware,
    retry_on_conflict,
)
from forze_eventstore import InMemoryEventStore
from forze_examples.bank import BALANCES, BALANCES_PROJECTION, AccountBalance
from forze_projections import InMemoryProjectionBackend, Projector

A = TypeVar("A", bound=Aggregate[Any])


class Opened(DomainEvent):
    """The only event of the test aggregate."""


class Ledger(Aggregate[Opened]):
    """A minimal aggregate, only needed to make a spec."""

    def apply(self, event: Opened) -> None:
        pass


LEDGER = AggregateSpec("ledger", Ledger, (EventType("ledger.opened", Opened),))


class RecordingRepositories:
    """An ``AggregateRepositories`` that records which spec and metadata it was asked for."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Mapping[str, Any] | None]] = []

    def __call__(
        self,
        spec: AggregateSpec[A],
        *,
        metadata: Mapping[str, Any] | None = None,
        event_ids: EventIds | None = None,
    ) -> AggregateRepository[A]:
        self.calls.append((spec.name, metadata))
        return cast("AggregateRepository[A]", object())

    def unit_of_work(
        self, *, metadata: Mapping[str, Any] | None = None, event_ids: EventIds | None = None
    ) -> UnitOfWork:
        raise NotImplementedError("these tests open no unit of work")


class RecordingPublisher:
    """A ``Publisher`` that keeps what it was given."""

    def __init__(self) -> None:
        self.published: list[Message] = []

    async def publish(self, messages: Sequence[Message]) -> None:
        self.published.extend(messages)

    async def close(self) -> None:
        pass


class RecordingSagaRunner:
    """A ``SagaRunner`` that keeps what it was given."""

    def __init__(self) -> None:
        self.delivered: list[tuple[str, str, RecordedEvent]] = []

    async def deliver(self, saga: str, key: str, event: RecordedEvent) -> None:
        self.delivered.append((saga, key, event))

    async def counts(self, saga: str) -> dict[str, int]:
        return {}


def full_module(store: InMemoryEventStore | None = None) -> DepsModule:
    """Every port the tests use, command ports included."""
    return (
        DepsModule("test")
        .provide(EVENT_STORE, store or InMemoryEventStore())
        .provide(AGGREGATES, RecordingRepositories())
        .provide(PUBLISHER, RecordingPublisher())
        .provide(SAGAS, RecordingSagaRunner())
    )


def event(name: str = "thing.happened") -> NewEvent:
    """A new event with some data."""
    return NewEvent(event_type=name, data={"n": 1})


async def run(
    runtime: Runtime,
    handler: Handler,
    *,
    kind: OperationKind = OperationKind.COMMAND,
    payload: Any = None,
    name: str = "op",
    **context: Any,
) -> Any:
    """Execute ``handler`` as a one-off usecase ``name`` of ``kind``."""
    usecase: Usecase[Any, Any] = Usecase(name, handler, kind)
    return await runtime.execute(usecase, payload, **context)


# --- queries are read-only -------------------------------------------------------------------

COMMAND_KEYS: list[PortKey[Any]] = [AGGREGATES, PUBLISHER, SAGAS]


@pytest.mark.parametrize("key", COMMAND_KEYS, ids=str)
async def test_a_query_cannot_obtain_a_command_port(key: PortKey[Any]) -> None:
    async def handler(ctx: ExecutionContext, payload: Any) -> Any:
        return ctx.port(key)

    async with build_runtime(full_module()) as runtime:
        with pytest.raises(ReadOnlyOperationError, match=str(key)):
            await run(runtime, handler, kind=OperationKind.QUERY)


@pytest.mark.parametrize("key", COMMAND_KEYS, ids=str)
async def test_a_query_cannot_obtain_a_routed_command_port(key: PortKey[Any]) -> None:
    async def handler(ctx: ExecutionContext, payload: Any) -> Any:
        return ctx.port(key, "ledger")

    async with build_runtime(full_module()) as runtime:
        with pytest.raises(ReadOnlyOperationError):
            await run(runtime, handler, kind=OperationKind.QUERY)


@pytest.mark.parametrize("key", COMMAND_KEYS, ids=str)
async def test_a_command_can_obtain_a_command_port(key: PortKey[Any]) -> None:
    module = full_module()
    expected = next(p.instance for p in module.providers() if p.key == key)

    async def handler(ctx: ExecutionContext, payload: Any) -> Any:
        return ctx.port(key)

    async with build_runtime(module) as runtime:
        assert await run(runtime, handler) is expected


async def test_a_query_cannot_obtain_an_aggregate_repository() -> None:
    repositories = RecordingRepositories()
    module = DepsModule("test").provide(AGGREGATES, repositories)

    async def handler(ctx: ExecutionContext, payload: Any) -> Any:
        return ctx.aggregates(LEDGER)

    async with build_runtime(module) as runtime:
        with pytest.raises(ReadOnlyOperationError):
            await run(runtime, handler, kind=OperationKind.QUERY)

    assert repositories.calls == []


async def test_a_query_context_from_the_runtime_refuses_command_ports() -> None:
    async with build_runtime(full_module()) as runtime:
        ctx = runtime.context(OperationKind.QUERY)
        with pytest.raises(ReadOnlyOperationError):
            ctx.port(PUBLISHER)


async def test_a_query_can_read_events_but_its_event_store_refuses_to_append() -> None:
    store = InMemoryEventStore()
    await store.append("ledger-1", [event("ledger.opened"), event("ledger.closed")])

    async def handler(ctx: ExecutionContext, payload: Any) -> Any:
        events = ctx.events
        stream = await events.read_stream("ledger-1")
        backwards = await events.read_stream("ledger-1", backwards=True, limit=1)
        feed = await events.read_all(after=1)
        version = await events.stream_version("ledger-1")
        head = await events.head_position()
        with pytest.raises(ReadOnlyOperationError, match="ledger-1"):
            await events.append("ledger-1", [event()])
        return (
            [e.event_type for e in stream],
            [e.event_type for e in backwards],
            [e.position for e in feed],
            version,
            head,
        )

    async with build_runtime(full_module(store)) as runtime:
        result = await run(runtime, handler, kind=OperationKind.QUERY)

    assert result == (
        ["ledger.opened", "ledger.closed"],
        ["ledger.closed"],
        [2],
        2,
        2,
    )
    assert await store.stream_version("ledger-1") == 2


async def test_a_query_can_subscribe_to_the_feed() -> None:
    store = InMemoryEventStore()
    await store.append("ledger-1", [event("ledger.opened")])

    async def handler(ctx: ExecutionContext, payload: Any) -> Any:
        feed = ctx.events.subscribe()
        try:
            first = await anext(feed)
        finally:
            await feed.aclose()
        return first.event_type

    async with build_runtime(full_module(store)) as runtime:
        assert await run(runtime, handler, kind=OperationKind.QUERY) == "ledger.opened"


async def test_a_query_cannot_append_through_the_event_store_port_either() -> None:
    store = InMemoryEventStore()

    async def handler(ctx: ExecutionContext, payload: Any) -> Any:
        return await ctx.port(EVENT_STORE).append("ledger-1", [event()])

    async with build_runtime(full_module(store)) as runtime:
        with pytest.raises(ReadOnlyOperationError):
            await run(runtime, handler, kind=OperationKind.QUERY)

    assert await store.stream_version("ledger-1") == 0


async def test_a_query_cannot_append_a_batch_either() -> None:
    store = InMemoryEventStore()

    async def handler(ctx: ExecutionContext, payload: Any) -> Any:
        return await ctx.events.append_many([("ledger-1", [event()], 0)])

    async with build_runtime(full_module(store)) as runtime:
        with pytest.raises(ReadOnlyOperationError):
            await run(runtime, handler, kind=OperationKind.QUERY)

    assert await store.stream_version("ledger-1") == 0


async def test_a_command_can_append_through_its_event_store() -> None:
    store = InMemoryEventStore()

    async def handler(ctx: ExecutionContext, payload: Any) -> Any:
        return await ctx.events.append("ledger-1", [event()])

    async with build_runtime(full_module(store)) as runtime:
        result = await run(runtime, handler)

    assert result.version == 1
    assert await store.stream_version("ledger-1") == 1


# --- who and why: the context's metadata -------------------------------------------------------


async def test_event_metadata_carries_correlation_causation_tenant_and_actor() -> None:
    async def handler(ctx: ExecutionContext, payload: Any) -> Any:
        return ctx.event_metadata()

    async with build_runtime(full_module()) as runtime:
        metadata = await run(
            runtime,
            handler,
            correlation_id="corr-1",
            causation_id="cause-1",
            tenant="acme",
            actor="alice",
        )

    assert metadata == {
        "correlation_id": "corr-1",
        "causation_id": "cause-1",
        "tenant": "acme",
        "actor": "alice",
    }


async def test_event_metadata_leaves_out_unset_fields() -> None:
    async def handler(ctx: ExecutionContext, payload: Any) -> Any:
        return ctx.event_metadata()

    async with build_runtime(full_module()) as runtime:
        only_correlation = await run(runtime, handler, correlation_id="corr-1")
        with_tenant = await run(runtime, handler, correlation_id="corr-2", tenant="acme")

    assert only_correlation == {"correlation_id": "corr-1"}
    assert with_tenant == {"correlation_id": "corr-2", "tenant": "acme"}


async def test_each_operation_gets_a_fresh_correlation_id_unless_one_is_given() -> None:
    async def handler(ctx: ExecutionContext, payload: Any) -> Any:
        return ctx.correlation_id

    async with build_runtime(full_module()) as runtime:
        first = await run(runtime, handler)
        second = await run(runtime, handler)
        given = await run(runtime, handler, correlation_id="corr-1")

    assert first
    assert second
    assert first != second
    assert given == "corr-1"


async def test_a_usecase_runs_in_a_context_of_its_own_kind() -> None:
    async def handler(ctx: ExecutionContext, payload: Any) -> Any:
        return ctx.kind

    query: Usecase[None, OperationKind] = Usecase.query("q", handler)
    command: Usecase[None, OperationKind] = Usecase.command("c", handler)

    async with build_runtime(full_module()) as runtime:
        assert await runtime.execute(query, None) is OperationKind.QUERY
        assert await runtime.execute(command, None) is OperationKind.COMMAND


async def test_the_aggregate_repository_is_routed_by_spec_and_stamped_with_the_metadata() -> None:
    default = RecordingRepositories()
    for_ledgers = RecordingRepositories()
    module = (
        DepsModule("test")
        .provide(AGGREGATES, default)
        .provide(AGGREGATES, for_ledgers, route="ledger")
    )

    async def handler(ctx: ExecutionContext, payload: Any) -> Any:
        return ctx.aggregates(LEDGER)

    async with build_runtime(module) as runtime:
        await run(runtime, handler, correlation_id="corr-1", actor="alice")

    assert default.calls == []
    assert for_ledgers.calls == [("ledger", {"correlation_id": "corr-1", "actor": "alice"})]


# --- middleware ------------------------------------------------------------------------------


def recording_layer(name: str, log: list[str]) -> Middleware:
    """A middleware that records entering and leaving."""

    async def layer(ctx: ExecutionContext, payload: Any, call_next: Handler) -> Any:
        log.append(f"enter {name}")
        result = await call_next(ctx, payload)
        log.append(f"leave {name}")
        return result

    return layer


async def test_the_first_listed_middleware_is_the_outermost() -> None:
    log: list[str] = []

    async def handler(ctx: ExecutionContext, payload: Any) -> Any:
        log.append("handler")
        return "done"

    runtime = build_runtime(
        full_module(),
        middleware=[recording_layer("outer", log), recording_layer("inner", log)],
    )
    async with runtime:
        assert await run(runtime, handler) == "done"

    assert log == ["enter outer", "enter inner", "handler", "leave inner", "leave outer"]


async def test_middleware_sees_the_context_and_payload_of_the_operation() -> None:
    seen: list[tuple[str, Any]] = []

    async def spy(ctx: ExecutionContext, payload: Any, call_next: Handler) -> Any:
        seen.append((ctx.correlation_id, payload))
        return await call_next(ctx, payload)

    async def handler(ctx: ExecutionContext, payload: Any) -> Any:
        return payload * 2

    async with build_runtime(full_module(), middleware=[spy]) as runtime:
        assert await run(runtime, handler, payload=21, correlation_id="corr-1") == 42

    assert seen == [("corr-1", 21)]


class Flaky:
    """A handler that raises ``error`` on its first ``failures`` calls, then returns ``"ok"``."""

    def __init__(self, error: Exception, failures: int) -> None:
        self.error = error
        self.failures = failures
        self.calls = 0

    async def __call__(self, ctx: ExecutionContext, payload: Any) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


def conflict() -> ConcurrencyError:
    """A concurrency conflict on a stream."""
    return ConcurrencyError("ledger-1", 1, 2)


async def test_retry_on_conflict_reruns_a_conflicting_command_until_it_succeeds() -> None:
    handler = Flaky(conflict(), failures=2)

    async with build_runtime(
        full_module(), middleware=[retry_on_conflict(3, base_delay=0.0)]
    ) as runtime:
        assert await run(runtime, handler) == "ok"

    assert handler.calls == 3


async def test_retry_on_conflict_gives_up_after_the_given_attempts_and_reraises() -> None:
    error = conflict()
    handler = Flaky(error, failures=100)

    async with build_runtime(
        full_module(), middleware=[retry_on_conflict(4, base_delay=0.0)]
    ) as runtime:
        with pytest.raises(ConcurrencyError) as caught:
            await run(runtime, handler)

    assert caught.value is error
    assert handler.calls == 4


async def test_retry_on_conflict_with_one_attempt_does_not_retry() -> None:
    handler = Flaky(conflict(), failures=1)

    async with build_runtime(full_module(), middleware=[retry_on_conflict(1)]) as runtime:
        with pytest.raises(ConcurrencyError):
            await run(runtime, handler)

    assert handler.calls == 1


async def test_retry_on_conflict_never_retries_a_query() -> None:
    handler = Flaky(conflict(), failures=1)

    async with build_runtime(
        full_module(), middleware=[retry_on_conflict(5, base_delay=0.0)]
    ) as runtime:
        with pytest.raises(ConcurrencyError):
            await run(runtime, handler, kind=OperationKind.QUERY)

    assert handler.calls == 1


@pytest.mark.parametrize(
    "error", [DomainError("overdrawn"), RuntimeError("boom")], ids=lambda e: type(e).__name__
)
async def test_retry_on_conflict_never_retries_other_errors(error: Exception) -> None:
    handler = Flaky(error, failures=1)

    async with build_runtime(
        full_module(), middleware=[retry_on_conflict(5, base_delay=0.0)]
    ) as runtime:
        with pytest.raises(type(error)) as caught:
            await run(runtime, handler)

    assert caught.value is error
    assert handler.calls == 1


@pytest.mark.parametrize("attempts", [0, -1])
def test_retry_on_conflict_needs_at_least_one_attempt(attempts: int) -> None:
    with pytest.raises(ValueError, match="attempts"):
        retry_on_conflict(attempts)


class Deposit:
    """A payload, whose type the log leaves out: it names the usecase."""


async def test_logging_middleware_logs_a_success_with_the_usecase_and_correlation_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="forze.usecase")

    async def handler(ctx: ExecutionContext, payload: Any) -> Any:
        return "done"

    async with build_runtime(full_module(), middleware=[logging_middleware()]) as runtime:
        result = await run(
            runtime, handler, payload=Deposit(), name="accounts.deposit", correlation_id="corr-ok"
        )

    assert result == "done"
    records = [r for r in caplog.records if r.name == "forze.usecase"]
    assert len(records) == 1
    assert records[0].levelno == logging.INFO
    assert records[0].getMessage().startswith("accounts.deposit done in ")
    assert "done" in records[0].getMessage()
    assert "corr-ok" in records[0].getMessage()


async def test_logging_middleware_logs_a_failure_with_the_usecase_and_correlation_id_and_reraises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="forze.usecase")

    async def handler(ctx: ExecutionContext, payload: Any) -> Any:
        raise DomainError("account is frozen")

    async with build_runtime(full_module(), middleware=[logging_middleware()]) as runtime:
        with pytest.raises(DomainError, match="account is frozen"):
            await run(
                runtime,
                handler,
                payload=Deposit(),
                name="accounts.deposit",
                correlation_id="corr-bad",
            )

    records = [r for r in caplog.records if r.name == "forze.usecase"]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    message = records[0].getMessage()
    assert message.startswith("accounts.deposit failed after ")
    assert "account is frozen" in message
    assert "corr-bad" in message


async def test_logging_middleware_uses_the_logger_it_is_given(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("tests.orders")
    caplog.set_level(logging.INFO, logger="tests.orders")

    async def handler(ctx: ExecutionContext, payload: Any) -> Any:
        return None

    async with build_runtime(full_module(), middleware=[logging_middleware(logger)]) as runtime:
        await run(runtime, handler, payload=Deposit(), correlation_id="corr-own")

    messages = [r.getMessage() for r in caplog.records if r.name == "tests.orders"]
    assert len(messages) == 1
    assert "corr-own" in messages[0]


@pytest.mark.parametrize("kind", [OperationKind.QUERY, OperationKind.COMMAND])
async def test_a_usecase_reads_a_read_model_but_cannot_write_it(kind: OperationKind) -> None:
    """Projections write read models; a usecase's write would be overwritten by the next batch."""
    backend = InMemoryProjectionBackend()
    projector = Projector(InMemoryEventStore(), backend, [BALANCES_PROJECTION])
    await projector.catch_up()
    await backend.serving()(BALANCES).upsert(AccountBalance(account_id="a-1", owner="ann"))

    async def handler(ctx: ExecutionContext, payload: Any) -> Any:
        balances = ctx.read_models(BALANCES)
        for write in (
            balances.upsert(AccountBalance(account_id="a-1", owner="bob")),  # type: ignore[attr-defined]
            balances.patch("a-1", {"owner": "bob"}),  # type: ignore[attr-defined]
            balances.delete("a-1"),  # type: ignore[attr-defined]
        ):
            with pytest.raises(ReadOnlyOperationError, match="projections only"):
                await write
        return await balances.get("a-1"), await balances.count()

    module = DepsModule("read models").provide(READ_MODELS, backend.serving())
    async with build_runtime(module) as runtime:
        found, count = await run(runtime, handler, kind=kind)
    assert found == AccountBalance(account_id="a-1", owner="ann")
    assert count == 1
