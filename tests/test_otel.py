"""OpenTelemetry through ``forze_otel``: one trace from a command across the relay and a
broker to the operations a consumer runs, spans and metrics of appends, feed batches, consumed
messages and saga steps, and nothing at all (not even the import) without it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import HistogramDataPoint
from opentelemetry.trace import SpanKind, StatusCode

from forze import (
    Backoff,
    Command,
    ConcurrencyError,
    Consumer,
    ConsumerSettings,
    ExecutionContext,
    NewEvent,
    Runtime,
    Subscriber,
    Usecase,
    build_runtime,
)
from forze.adapter_kit import TELEMETRY
from forze.contracts import ReadModelStores, RecordedEvent
from forze_eventstore import InMemoryEventStore, event_store_module
from forze_examples.bank import (
    ACCOUNTS,
    BALANCES_PROJECTION,
    OPEN_ACCOUNT,
    TRANSFER,
    OpenAccount,
    Transfer,
)
from forze_examples.fulfilment import (
    FULFILMENT,
    PLACE_ORDER,
    RECEIVE_STOCK,
    PlaceOrder,
    ReceiveStock,
)
from forze_mock import InMemoryBroker, InProcessSagaRunner
from forze_projections import InMemoryProjectionBackend, Projection, Projector, Relay
from forze_projections.sagas import SagaDispatcher
from forze_redis import RedisStreamPublisher, RedisStreamSubscriber, connect
from tests.otel_support import (
    Recorded,
    attribute,
    error_types,
    parent_id,
    span_id,
    trace_id,
    waiting_for,
)
from tests.redis_support import REDIS_URL, delete_prefixed, new_prefix

FAST = ConsumerSettings(max_attempts=1, backoff=Backoff(0.0, 0.0), wait_seconds=0.01)
"""A consumer for tests: no waiting, a failing message dead-lettered at once."""


class Opened(Command):
    """What a consumer reads from an ``AccountOpened`` message."""

    owner: str
    overdraft_limit: int


async def _welcome(ctx: ExecutionContext, opened: Opened) -> None:
    async with ctx.aggregates(ACCOUNTS).edit(opened.owner) as account:
        account.deposit(100)


WELCOME = Usecase.command("welcome_bonus", _welcome, ACCOUNTS)
"""The consumer's usecase: a bonus paid into every account opened (its id is its owner)."""


async def _refuse(ctx: ExecutionContext, opened: Opened) -> None:
    raise ValueError(f"no bonus for {opened.owner}")


REFUSE = Usecase.command("refuse_bonus", _refuse, ACCOUNTS)


@dataclass
class Bank:
    """An instrumented runtime over an in-memory store, and its broker."""

    recorded: Recorded
    store: InMemoryEventStore
    runtime: Runtime
    broker: InMemoryBroker

    def relay(self, publisher: object | None = None) -> Relay:
        """A relay of the ``AccountOpened`` events, reporting to the runtime's telemetry."""
        return Relay(
            self.store,
            InMemoryProjectionBackend(),
            self.broker.publisher() if publisher is None else publisher,  # type: ignore[arg-type]
            name="outbox",
            source="urn:bank",
            event_types=["AccountOpened"],
            telemetry=self.runtime.telemetry,
        )

    async def consume(
        self,
        route: Usecase[Opened, None],
        until: Callable[[], Awaitable[bool]],
        subscriber: Subscriber,
    ) -> None:
        """Run a consumer of ``subscriber`` with ``route`` until ``await until()`` holds."""
        consumer = Consumer(subscriber, self.runtime, {"AccountOpened": route}, FAST)
        async with asyncio.timeout(10), asyncio.TaskGroup() as group:
            group.create_task(consumer.run())
            await waiting_for(until)
            consumer.stop()


@asynccontextmanager
async def bank() -> AsyncIterator[Bank]:
    """A bank whose runtime has ``otel_module`` over in-memory providers."""
    recorded, store, broker = Recorded(), InMemoryEventStore(), InMemoryBroker()
    broker.declare("welcome", "account.AccountOpened")
    usecases: list[Usecase[Any, Any]] = [OPEN_ACCOUNT, TRANSFER, WELCOME, REFUSE]
    async with build_runtime(
        event_store_module(store), recorded.module(), usecases=usecases
    ) as runtime:
        yield Bank(recorded, store, runtime, broker)


async def settled(broker: InMemoryBroker) -> bool:
    """Whether the ``welcome`` queue holds nothing unsettled."""
    return broker.pending("welcome") == 0


async def dead(broker: InMemoryBroker) -> bool:
    """Whether the ``welcome`` queue dead-lettered a message."""
    return bool(broker.dead_letters("welcome"))


async def stream_length(store: InMemoryEventStore, account: str) -> int:
    """How many events ``account``'s stream holds."""
    return len(await store.read_stream(ACCOUNTS.stream_id(account)))


# --- one trace across the broker ----------------------------------------------------------


async def test_one_trace_runs_from_a_command_through_the_relay_and_a_consumer_to_its_append() -> (
    None
):
    async with bank() as shop:
        await shop.runtime.execute(
            OPEN_ACCOUNT, OpenAccount(account_id="ann", owner="ann"), correlation_id="c-1"
        )
        await shop.relay().catch_up()
        subscriber = shop.broker.subscriber("welcome")
        await shop.consume(WELCOME, lambda: settled(shop.broker), subscriber)
        opened, paid = await shop.store.read_stream(ACCOUNTS.stream_id("ann"))

    recorded = shop.recorded
    command = recorded.span("usecase open_account")
    first_append, second_append = recorded.spans("append account")
    batch = recorded.span("batch relay:outbox")
    publish = recorded.span("publish account.AccountOpened")
    process = recorded.span("process welcome")
    handled = recorded.span("usecase welcome_bonus")

    chain = [command, publish, process, handled, second_append]
    assert [parent_id(span) for span in chain] == [None, *(span_id(s) for s in chain[:-1])]
    assert parent_id(first_append) == span_id(command)
    assert {trace_id(span) for span in [*chain, first_append]} == {trace_id(command)}
    assert trace_id(batch) != trace_id(command)
    assert [link.context.span_id for link in publish.links] == [span_id(batch)]
    assert (publish.kind, process.kind) == (SpanKind.PRODUCER, SpanKind.CONSUMER)

    for span in chain:
        assert attribute(span, "forze.correlation_id") == "c-1"
    caused = str(opened.event_id)
    assert attribute(process, "forze.causation_id") == caused
    assert attribute(handled, "forze.causation_id") == caused
    assert attribute(publish, "messaging.message.id") == caused
    assert attribute(batch, "forze.feed.kind") == "relay"
    stored = f"00-{trace_id(handled):032x}-{span_id(handled):016x}-"
    assert paid.metadata["traceparent"].startswith(stored)
    assert opened.metadata["traceparent"].startswith(f"00-{trace_id(command):032x}-")

    assert recorded.total("forze.events.appended") == 2
    (latency,) = recorded.points("forze.append.duration")
    assert isinstance(latency, HistogramDataPoint)
    assert latency.count == 2
    assert recorded.total("forze.feed.lag", **{"forze.feed.name": "relay:outbox"}) == 0
    assert recorded.total("forze.consumer.failures") == 0


async def test_the_trace_survives_a_real_redis_streams_hop() -> None:
    client, prefix = connect(REDIS_URL), new_prefix()
    stream = f"{prefix}welcome"
    publisher = RedisStreamPublisher(connect(REDIS_URL), default_stream=stream)
    try:
        async with bank() as shop:
            await shop.runtime.execute(OPEN_ACCOUNT, OpenAccount(account_id="bo", owner="bo"))
            relay = Relay(
                shop.store,
                InMemoryProjectionBackend(),
                publisher,
                name="outbox",
                source="urn:bank",
                route=stream,
                event_types=["AccountOpened"],
                telemetry=shop.runtime.telemetry,
            )
            await relay.catch_up()
            subscriber = RedisStreamSubscriber(connect(REDIS_URL), stream, "welcome")

            async def paid() -> bool:
                return await stream_length(shop.store, "bo") == 2

            await shop.consume(WELCOME, paid, subscriber)
    finally:
        await publisher.close()
        await delete_prefixed(client, prefix)
        await client.aclose()

    recorded = shop.recorded
    publish = recorded.span(f"publish {stream}")
    process = recorded.span(f"process {stream}")
    assert parent_id(process) == span_id(publish)
    assert trace_id(process) == trace_id(recorded.span("usecase open_account"))
    assert parent_id(recorded.span("usecase welcome_bonus")) == span_id(process)


# --- failures -----------------------------------------------------------------------------


async def test_a_failing_usecase_marks_its_span_as_an_error_and_records_the_exception() -> None:
    async with bank() as shop:
        await shop.runtime.execute(OPEN_ACCOUNT, OpenAccount(account_id="cy", owner="cy"))
        with pytest.raises(ConcurrencyError):
            await shop.runtime.execute(OPEN_ACCOUNT, OpenAccount(account_id="cy", owner="cy"))

    ok, failed = shop.recorded.spans("usecase open_account")
    assert ok.status.status_code is StatusCode.UNSET
    assert failed.status.status_code is StatusCode.ERROR
    (exception,) = [event for event in failed.events if event.name == "exception"]
    assert attribute(exception, "exception.type").endswith("ConcurrencyError")
    failed_append = shop.recorded.spans("append account")[1]
    assert failed_append.status.status_code is StatusCode.ERROR
    assert shop.recorded.total("forze.events.appended") == 1
    durations = shop.recorded.points("forze.append.duration")
    assert error_types(durations) == ["", "ConcurrencyError"]


async def test_a_failing_handler_marks_its_process_span_and_counts_a_consumer_failure() -> None:
    async with bank() as shop:
        await shop.runtime.execute(OPEN_ACCOUNT, OpenAccount(account_id="di", owner="di"))
        await shop.relay().catch_up()
        subscriber = shop.broker.subscriber("welcome")
        await shop.consume(REFUSE, lambda: dead(shop.broker), subscriber)

    process = shop.recorded.span("process welcome")
    assert process.status.status_code is StatusCode.ERROR
    assert shop.recorded.total("forze.consumer.failures", **{"error.type": "ValueError"}) == 1


async def test_a_message_the_broker_refuses_fails_its_publish_span_only() -> None:
    async with bank() as shop:
        await shop.runtime.execute(OPEN_ACCOUNT, OpenAccount(account_id="ed", owner="ed"))
        shop.broker.max_message_bytes = 1
        status = await shop.relay().catch_up()

    assert status.refused == 1
    publish = shop.recorded.span("publish account.AccountOpened")
    assert publish.status.status_code is StatusCode.ERROR
    refused = {"forze.relay": "relay:outbox", "error.type": "MessageRefused"}
    assert shop.recorded.total("forze.relay.publish.failures", **refused) == 1
    assert shop.recorded.total("forze.feed.failures") == 0


# --- appends, projector batches and saga steps --------------------------------------------


async def test_a_unit_of_work_is_one_append_of_every_stream_it_changed() -> None:
    async with bank() as shop:
        for account in ("fe", "gu"):
            opening = OpenAccount(account_id=account, owner="x", overdraft_limit=10)
            await shop.runtime.execute(OPEN_ACCOUNT, opening)
        transfer = Transfer(transfer_id="t-1", from_account="fe", to_account="gu", amount=5)
        await shop.runtime.execute(TRANSFER, transfer, correlation_id="c-7")

    appended = shop.recorded.spans("append account")[-1]
    assert parent_id(appended) == span_id(shop.recorded.span("usecase transfer"))
    assert sorted(attribute(appended, "forze.stream_ids")) == ["account-fe", "account-gu"]
    assert attribute(appended, "forze.events") == 2
    assert attribute(appended, "forze.correlation_id") == "c-7"
    assert shop.recorded.total("forze.events.appended") == 4


async def test_an_append_through_ctx_events_is_reported_too() -> None:
    async def append_note(ctx: ExecutionContext, text: str) -> None:
        notes = [NewEvent("Noted", {"text": t}, ctx.event_metadata()) for t in (text, "again")]
        await ctx.events.append("note-1", notes)

    recorded, store = Recorded(), InMemoryEventStore()
    noting = Usecase.command("note", append_note)
    async with build_runtime(event_store_module(store), recorded.module()) as runtime:
        await runtime.execute(noting, "hello")

    appended = recorded.span("append note")
    assert parent_id(appended) == span_id(recorded.span("usecase note"))
    assert attribute(appended, "forze.events") == 2
    (stored, _) = await store.read_all()
    assert stored.metadata["traceparent"].split("-")[1] == f"{trace_id(appended):032x}"


async def test_projector_batches_report_spans_lag_and_failures() -> None:
    async def broken(event: RecordedEvent, read_models: ReadModelStores) -> None:
        raise RuntimeError("broken handler")

    async with bank() as shop:
        for account in ("ha", "io", "ju"):
            await shop.runtime.execute(OPEN_ACCOUNT, OpenAccount(account_id=account, owner="x"))
        backend = InMemoryProjectionBackend()
        failing = Projection("failing", 1, {"AccountOpened": broken}, ())
        projector = Projector(
            shop.store,
            backend,
            [BALANCES_PROJECTION, failing],
            batch_size=2,
            telemetry=shop.runtime.telemetry,
        )
        with pytest.raises(Exception, match="broken handler"):
            await projector.catch_up()

    batches = shop.recorded.spans(f"batch {BALANCES_PROJECTION.name}")
    assert [attribute(s, "forze.events") for s in batches] == [2, 1]
    assert [attribute(s, "forze.lag") for s in batches] == [1, 0]
    assert {attribute(s, "forze.feed.kind") for s in batches} == {"projector"}
    name = BALANCES_PROJECTION.name
    assert shop.recorded.total("forze.feed.lag", **{"forze.feed.name": name}) == 0
    assert shop.recorded.total("forze.feed.failures", **{"forze.feed.name": "failing"}) == 1
    failed = shop.recorded.span("batch failing")
    assert failed.status.status_code is StatusCode.ERROR


async def test_saga_steps_are_spans_around_their_usecases() -> None:
    recorded, store = Recorded(), InMemoryEventStore()
    async with build_runtime(event_store_module(store), recorded.module()) as runtime:
        await runtime.execute(RECEIVE_STOCK, ReceiveStock(sku="mug", quantity=5))
        order = PlaceOrder(order_id="o1", sku="mug", quantity=1, amount=100, card="visa")
        await runtime.execute(PLACE_ORDER, order, correlation_id="c-9")
        runner = InProcessSagaRunner(runtime, [FULFILMENT])
        dispatcher = SagaDispatcher(
            store,
            InMemoryProjectionBackend(),
            runner,
            name="fulfilment",
            sagas=[FULFILMENT],
            telemetry=runtime.telemetry,
        )
        await dispatcher.catch_up()

    step = recorded.span("saga fulfilment.reserve")
    assert attribute(step, "forze.usecase") == "reserve_stock"
    assert attribute(step, "forze.correlation_id") == "c-9"
    assert attribute(step, "forze.saga.compensation") is False
    assert parent_id(recorded.span("usecase reserve_stock")) == span_id(step)
    (batch,) = recorded.spans("batch saga:fulfilment")
    assert attribute(batch, "forze.feed.kind") == "saga"


async def test_a_runtime_has_its_telemetry_only_while_it_runs() -> None:
    runtime = build_runtime(event_store_module(InMemoryEventStore()), Recorded().module())
    seen = [runtime.telemetry]

    async with runtime:
        seen.append(runtime.telemetry)
        assert runtime.telemetry is runtime.port(TELEMETRY)
    seen.append(runtime.telemetry)

    assert [type(found).__name__ for found in seen] == ["NoneType", "OtelTelemetry", "NoneType"]


# --- zero cost without it -------------------------------------------------------------------

WITHOUT = textwrap.dedent(
    """
    import asyncio, sys

    import forze, forze_eventstore, forze_projections
    from forze import build_runtime
    from forze_eventstore import InMemoryEventStore, event_store_module
    from forze_examples.bank import OPEN_ACCOUNT, PROJECTIONS, OpenAccount
    from forze_mock import InMemoryBroker
    from forze_projections import InMemoryProjectionBackend, Projector, Relay

    async def main():
        store, broker = InMemoryEventStore(), InMemoryBroker()
        broker.declare("all", "#")
        async with build_runtime(event_store_module(store), usecases=[OPEN_ACCOUNT]) as runtime:
            assert runtime.telemetry is None
            await runtime.execute(OPEN_ACCOUNT, OpenAccount(account_id="a", owner="a"))
            await Projector(store, InMemoryProjectionBackend(), PROJECTIONS).catch_up()
            relay = Relay(store, InMemoryProjectionBackend(), broker.publisher(),
                          name="out", source="urn:t")
            await relay.catch_up()
        (event,) = await store.read_all()
        assert "traceparent" not in event.metadata, event.metadata
        message = broker.subscriber("all")
        (delivery,) = await message.receive(wait_seconds=0)
        assert "traceparent" not in delivery.message.extensions

    asyncio.run(main())
    loaded = sorted(name for name in sys.modules if name.split(".")[0] == "opentelemetry")
    assert not loaded, loaded
    print("no opentelemetry")
    """
)


def test_without_forze_otel_nothing_imports_opentelemetry_nor_stamps_a_trace() -> None:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", WITHOUT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "no opentelemetry"
    assert time.perf_counter() - started < 30
