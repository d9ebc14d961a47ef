"""The consumer runtime on the in-memory broker and event store: exactly-once effect through
derived event ids, retries and dead letters, per-stream order, and graceful shutdown."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import uuid5

from hypothesis import given, settings
from hypothesis import strategies as st

from forze import (
    Backoff,
    BrokerUnavailable,
    ConcurrencyError,
    Consumer,
    ConsumerSettings,
    DuplicateEventIdError,
    EventStoreUnavailable,
    ExecutionContext,
    Message,
    NewEvent,
    Runtime,
    Usecase,
    build_runtime,
    idempotent,
    message_data,
)
from forze.adapter_kit import EventIds
from forze.messaging import MessageHandler
from forze_eventstore import InMemoryEventStore, event_store_module
from forze_examples.bank import (
    ACCOUNTS,
    DEPOSIT,
    OPEN_ACCOUNT,
    AccountOpened,
    MoneyDeposited,
    OpenAccount,
)
from forze_mock import InMemoryBroker, InMemoryIdempotencyStore

QUEUE = "bank"
FAST = ConsumerSettings(max_attempts=3, backoff=Backoff(0.0, 0.0), wait_seconds=0.01)
"""Settings for tests: no waiting between retries."""


def deposit_message(
    message_id: str, account: str = "a", amount: int = 1, **extensions: str
) -> Message:
    """A ``deposit`` message for ``account``, ordered by the account."""
    return Message(
        id=message_id,
        type="deposit",
        source="tests",
        subject=account,
        time=datetime.now(UTC),
        data=json.dumps({"account": account, "amount": amount}).encode(),
        extensions=extensions,
        destination=QUEUE,
        ordering_key=account,
    )


async def deposit(ctx: ExecutionContext, message: Message) -> None:
    """Open the account if needed and deposit the message's amount (one append)."""
    data = message_data(message)

    def act(account: Any) -> None:
        if not account.opened:
            account.open("owner")
        account.deposit(data["amount"])

    await ctx.aggregates(ACCOUNTS).execute(data["account"], act)


@asynccontextmanager
async def bank() -> AsyncIterator[tuple[InMemoryBroker, InMemoryEventStore, Runtime]]:
    """A broker with the ``bank`` queue, an event store and a runtime over it."""
    broker, store = InMemoryBroker(), InMemoryEventStore()
    broker.declare(QUEUE, "#")
    async with build_runtime(event_store_module(store)) as runtime:
        yield broker, store, runtime


async def waiting_for(condition: Callable[[], bool], seconds: float = 8.0) -> None:
    """Wait until ``condition()`` holds; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.005)


async def consume(
    broker: InMemoryBroker,
    runtime: Runtime,
    handlers: Mapping[str, Usecase[Any, Any] | MessageHandler],
    until: Callable[[], bool],
    options: ConsumerSettings = FAST,
) -> None:
    """Run a consumer of the queue until ``until()`` holds (then stop it)."""
    consumer = Consumer(broker.subscriber(QUEUE), runtime, handlers, options)
    async with asyncio.timeout(10), asyncio.TaskGroup() as group:
        group.create_task(consumer.run())
        await waiting_for(until)
        consumer.stop()


async def amounts(store: InMemoryEventStore, account: str = "a") -> list[int]:
    """The deposited amounts of ``account``'s stream."""
    events = await store.read_stream(ACCOUNTS.stream_id(account))
    return [e.data["amount"] for e in events if e.event_type == "MoneyDeposited"]


async def test_a_message_is_handled_once_and_acked_only_after_its_handler_returned() -> None:
    async with bank() as (broker, store, runtime):
        pending_while_handling: list[int] = []

        async def watched(ctx: ExecutionContext, message: Message) -> None:
            await deposit(ctx, message)
            pending_while_handling.append(broker.pending(QUEUE))

        await broker.publisher().publish([deposit_message("m1", amount=5)])
        await consume(broker, runtime, {"deposit": watched}, lambda: broker.pending(QUEUE) == 0)
        assert await amounts(store) == [5]
        assert pending_while_handling == [1]
        assert broker.dead_letters(QUEUE) == []


async def test_a_redelivered_message_appends_its_events_once() -> None:
    async with bank() as (broker, store, runtime):
        opening, plain = deposit_message("m1", amount=7), deposit_message("m2", amount=1)
        # m1 opened the account: run again it builds other events (a DuplicateEventIdError
        # in the store); m2 run again builds the same event (a conflict with its own append)
        await broker.publisher().publish([opening, plain, opening, plain])
        await consume(broker, runtime, {"deposit": deposit}, lambda: broker.pending(QUEUE) == 0)
        assert await amounts(store) == [7, 1]
        assert await store.head_position() == 3
        assert broker.dead_letters(QUEUE) == []


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=15))
def test_any_redelivery_pattern_applies_each_message_exactly_once(ids: list[int]) -> None:
    async def scenario() -> None:
        async with bank() as (broker, store, runtime):
            messages = [deposit_message(f"m{n}", amount=n + 1) for n in ids]
            for message in messages:
                await broker.publisher().publish([message])
            await consume(broker, runtime, {"deposit": deposit}, lambda: not broker.pending(QUEUE))
            first_seen = list(dict.fromkeys(ids))
            assert await amounts(store) == [n + 1 for n in first_seen]

    asyncio.run(scenario())


async def test_a_failing_handler_is_retried_then_dead_lettered_with_its_error() -> None:
    async with bank() as (broker, _store, runtime):
        calls: list[int] = []

        async def failing(ctx: ExecutionContext, message: Message) -> None:
            calls.append(1)
            raise RuntimeError("the ledger is on fire")

        await broker.publisher().publish([deposit_message("m1")])
        await consume(broker, runtime, {"deposit": failing}, lambda: broker.pending(QUEUE) == 0)
        [dead] = broker.dead_letters(QUEUE)
        assert dead.reason == "RuntimeError: the ledger is on fire"
        assert dead.attempts == FAST.max_attempts == len(calls)


async def test_a_conflict_that_outlasts_every_attempt_is_dead_lettered_not_retried_for_ever() -> (
    None
):
    async with bank() as (broker, _store, runtime):
        calls: list[int] = []

        async def conflicting(ctx: ExecutionContext, message: Message) -> None:
            calls.append(1)
            raise ConcurrencyError("account-1", 2, 3)

        await broker.publisher().publish([deposit_message("m1")])
        await consume(broker, runtime, {"deposit": conflicting}, lambda: broker.pending(QUEUE) == 0)
        [dead] = broker.dead_letters(QUEUE)
        assert dead.reason.startswith("ConcurrencyError: ")
        assert len(calls) == FAST.max_attempts


async def test_an_outage_longer_than_max_attempts_is_waited_out_not_dead_lettered() -> None:
    async with bank() as (broker, store, runtime):
        outages = FAST.max_attempts * 2

        async def during_outage(ctx: ExecutionContext, message: Message) -> None:
            nonlocal outages
            if outages:
                outages -= 1
                raise EventStoreUnavailable("the database restarts")
            await ctx.events.append("ledger-1", [NewEvent("Noted", {"id": message.id})])

        await broker.publisher().publish([deposit_message("m1")])
        await consume(
            broker, runtime, {"deposit": during_outage}, lambda: not broker.pending(QUEUE)
        )
        assert broker.dead_letters(QUEUE) == []
        assert [e.data for e in await store.read_stream("ledger-1")] == [{"id": "m1"}]


async def test_malformed_and_unknown_messages_are_dead_lettered_at_once() -> None:
    async with bank() as (broker, store, runtime):
        not_json = Message(
            id="bad",
            type="deposit",
            source="tests",
            subject="a",
            time=datetime.now(UTC),
            data=b"{not json",
            destination=QUEUE,
        )
        unknown = Message(
            id="odd",
            type="withdraw",
            source="tests",
            subject="b",
            time=datetime.now(UTC),
            data=b"{}",
            destination=QUEUE,
        )
        await broker.publisher().publish([not_json, unknown])
        await consume(broker, runtime, {"deposit": deposit}, lambda: broker.pending(QUEUE) == 0)
        dead = {d.message.id: d for d in broker.dead_letters(QUEUE)}
        assert dead["bad"].reason.startswith("MalformedMessage: ")
        assert "not JSON" in dead["bad"].reason
        assert "no handler for type 'withdraw'" in dead["odd"].reason
        assert {d.attempts for d in dead.values()} == {1}
        assert await store.head_position() == 0


async def test_a_poison_message_blocks_neither_other_streams_nor_its_own_forever() -> None:
    async with bank() as (broker, store, runtime):

        async def picky(ctx: ExecutionContext, message: Message) -> None:
            if message.id == "poison":
                raise ValueError("cannot digest")
            await deposit(ctx, message)

        await broker.publisher().publish(
            [
                deposit_message("poison", account="x"),
                deposit_message("after", account="x", amount=2),
                deposit_message("other", account="y", amount=3),
            ]
        )
        await consume(broker, runtime, {"deposit": picky}, lambda: broker.pending(QUEUE) == 0)
        assert [d.message.id for d in broker.dead_letters(QUEUE)] == ["poison"]
        assert await amounts(store, "x") == [2]
        assert await amounts(store, "y") == [3]


async def test_messages_of_one_stream_are_handled_in_order_while_streams_interleave() -> None:
    async with bank() as (broker, store, runtime):
        messages = [
            deposit_message(f"{account}{n}", account=account, amount=n)
            for n in range(1, 8)
            for account in ("a", "b", "c")
        ]
        await broker.publisher().publish(messages)
        await consume(broker, runtime, {"deposit": deposit}, lambda: broker.pending(QUEUE) == 0)
        for account in ("a", "b", "c"):
            assert await amounts(store, account) == list(range(1, 8))


async def test_correlation_causation_and_tenant_come_from_the_message() -> None:
    async with bank() as (broker, store, runtime):
        await broker.publisher().publish(
            [
                deposit_message("m1", correlationid="req-9", tenant="acme"),
                deposit_message("m2", account="b"),
            ]
        )
        await consume(broker, runtime, {"deposit": deposit}, lambda: broker.pending(QUEUE) == 0)
        for event in await store.read_stream(ACCOUNTS.stream_id("a")):
            assert event.metadata["correlation_id"] == "req-9"
            assert event.metadata["causation_id"] == "m1"
            assert event.metadata["tenant"] == "acme"
        for event in await store.read_stream(ACCOUNTS.stream_id("b")):
            assert event.metadata["correlation_id"] == "m2"
            assert event.metadata["causation_id"] == "m2"
            assert "tenant" not in event.metadata
        assert await store.head_position() == 4


async def test_stopping_leaves_an_unfinished_message_unacked_for_redelivery() -> None:
    async with bank() as (broker, store, runtime):
        started, release = asyncio.Event(), asyncio.Event()

        async def slow(ctx: ExecutionContext, message: Message) -> None:
            await deposit(ctx, message)
            started.set()
            await release.wait()

        await broker.publisher().publish([deposit_message("m1", amount=4)])
        options = ConsumerSettings(backoff=Backoff(0, 0), wait_seconds=0.05, grace_seconds=0.05)
        await consume(broker, runtime, {"deposit": slow}, started.is_set, options)
        assert broker.pending(QUEUE) == 1
        await consume(broker, runtime, {"deposit": deposit}, lambda: broker.pending(QUEUE) == 0)
        assert await amounts(store) == [4]


async def test_stopping_lets_a_running_handler_finish_within_the_grace_period() -> None:
    async with bank() as (broker, store, runtime):
        started = asyncio.Event()

        async def brief(ctx: ExecutionContext, message: Message) -> None:
            started.set()
            await asyncio.sleep(0.05)
            await deposit(ctx, message)

        await broker.publisher().publish([deposit_message("m1", amount=6)])
        await consume(broker, runtime, {"deposit": brief}, started.is_set)
        assert broker.pending(QUEUE) == 0
        assert await amounts(store) == [6]


async def test_an_idempotent_handler_runs_its_side_effect_once_per_message() -> None:
    async with bank() as (broker, _store, runtime):
        sent: list[str] = []

        async def notify(ctx: ExecutionContext, message: Message) -> dict[str, str]:
            sent.append(message.id)
            return {"sent": message.id}

        once = idempotent(notify, InMemoryIdempotencyStore(), ttl_seconds=60)
        same = deposit_message("m1")
        await broker.publisher().publish([same, same, deposit_message("m2")])
        await consume(broker, runtime, {"deposit": once}, lambda: broker.pending(QUEUE) == 0)
        assert sent == ["m1", "m2"]


async def test_a_retry_after_a_partial_run_completes_it_without_repeating_the_done_part() -> None:
    async with bank() as (broker, store, runtime):
        runs: list[int] = []

        async def two_streams(ctx: ExecutionContext, message: Message) -> None:
            runs.append(1)
            await deposit(ctx, deposit_message(message.id, account="a", amount=1))
            if len(runs) == 1:
                raise EventStoreUnavailable("lost the connection between the two appends")
            await deposit(ctx, deposit_message(message.id, account="b", amount=2))

        await broker.publisher().publish([deposit_message("m1")])
        await consume(broker, runtime, {"deposit": two_streams}, lambda: not broker.pending(QUEUE))
        assert (await amounts(store, "a"), await amounts(store, "b")) == ([1], [2])
        assert len(runs) == 2


async def test_a_usecase_route_gets_its_payload_and_bad_data_is_dead_lettered() -> None:
    broker, store = InMemoryBroker(), InMemoryEventStore()
    broker.declare(QUEUE, "#")
    async with build_runtime(event_store_module(store), usecases=[OPEN_ACCOUNT, DEPOSIT]) as rt:
        await rt.execute(OPEN_ACCOUNT, OpenAccount(account_id="a", owner="ann"))
        good = replace(deposit_message("m1"), data=b'{"account_id": "a", "amount": 9}')
        bad = replace(deposit_message("m2"), data=b'{"account_id": "a"}')
        await broker.publisher().publish([good, bad])
        await consume(broker, rt, {"deposit": DEPOSIT}, lambda: not broker.pending(QUEUE))
        assert await amounts(store) == [9]
        [dead] = broker.dead_letters(QUEUE)
        assert dead.message.id == "m2"
        assert dead.reason.startswith("MalformedMessage: message 'm2': data is not a Deposit")
        assert dead.attempts == 1


async def test_derived_event_ids_follow_the_message_id_stream_and_index() -> None:
    async with bank() as (_broker, store, runtime):
        ctx = runtime.context(event_ids_from="m1")
        await ctx.aggregates(ACCOUNTS).append("a", [AccountOpened(owner="ann", overdraft_limit=0)])
        await ctx.aggregates(ACCOUNTS).append("a", [MoneyDeposited(amount=1)])
        await (
            runtime.context()
            .aggregates(ACCOUNTS)
            .append("b", [AccountOpened(owner="bo", overdraft_limit=0)])
        )
        await (
            runtime.context()
            .aggregates(ACCOUNTS)
            .append("c", [AccountOpened(owner="cy", overdraft_limit=0)])
        )
        stream = ACCOUNTS.stream_id("a")
        ids = [e.event_id for e in await store.read_stream(stream)]
        assert ids == [uuid5(EventIds.NAMESPACE, f"m1/{stream}/{n}") for n in (0, 1)]
        random_b, random_c = [e.event_id for e in await store.read_all(after=2)]
        assert random_b.version == random_c.version == 4


async def test_a_broker_outage_while_receiving_is_waited_out() -> None:
    async with bank() as (broker, store, runtime):
        real = broker.subscriber(QUEUE)
        failures = [BrokerUnavailable("connection refused")] * 3

        class Flaky:
            async def receive(self, *, max_messages: int = 10, wait_seconds: float = 1.0) -> Any:
                if failures:
                    raise failures.pop()
                return await real.receive(max_messages=max_messages, wait_seconds=wait_seconds)

            async def close(self) -> None:
                await real.close()

        await broker.publisher().publish([deposit_message("m1", amount=2)])
        consumer = Consumer(Flaky(), runtime, {"deposit": deposit}, FAST)
        async with asyncio.timeout(10), asyncio.TaskGroup() as group:
            group.create_task(consumer.run())
            await waiting_for(lambda: not broker.pending(QUEUE))
            consumer.stop()
        assert not failures
        assert await amounts(store) == [2]


async def test_a_duplicate_event_id_from_a_handler_means_already_handled() -> None:
    async with bank() as (broker, _store, runtime):

        async def duplicate(ctx: ExecutionContext, message: Message) -> None:
            raise DuplicateEventIdError(uuid5(EventIds.NAMESPACE, "x"), "account-a", 1)

        await broker.publisher().publish([deposit_message("m1")])
        await consume(broker, runtime, {"deposit": duplicate}, lambda: not broker.pending(QUEUE))
        assert broker.dead_letters(QUEUE) == []


class ScriptedDelivery:
    """A delivery that records how it was settled."""

    def __init__(self, message: Message, settled: list[tuple[str, str]]) -> None:
        self.message, self.attempt, self._settled = message, 1, settled

    async def ack(self) -> None:
        self._settled.append(("ack", self.message.id))

    async def retry(self, delay_seconds: float) -> None:
        self._settled.append(("retry", self.message.id))

    async def dead_letter(self, reason: str) -> None:
        self._settled.append(("dead", self.message.id))


class ScriptedSubscriber:
    """Hands out ``batch`` once, then nothing."""

    def __init__(self, batch: list[ScriptedDelivery]) -> None:
        self.batch, self.closed = batch, False

    async def receive(
        self, *, max_messages: int = 10, wait_seconds: float = 1.0
    ) -> list[ScriptedDelivery]:
        batch, self.batch = self.batch, []
        if not batch:
            await asyncio.sleep(0.001)
        return batch

    async def close(self) -> None:
        self.closed = True


async def test_after_a_retried_message_the_later_ones_of_its_stream_wait_behind_it() -> None:
    async with bank() as (_broker, _store, runtime):
        settled: list[tuple[str, str]] = []
        handled: list[str] = []

        async def first_fails(ctx: ExecutionContext, message: Message) -> None:
            handled.append(message.id)
            if message.id == "a1":
                raise ConnectionError("flaky")

        batch = [
            ScriptedDelivery(deposit_message(id_, account=id_[0]), settled)
            for id_ in ("a1", "a2", "b1", "a3")
        ]
        subscriber = ScriptedSubscriber(batch)
        consumer = Consumer(subscriber, runtime, {"deposit": first_fails}, FAST)
        async with asyncio.timeout(10), asyncio.TaskGroup() as group:
            group.create_task(consumer.run())
            await waiting_for(lambda: len(settled) == 4)
            consumer.stop()
        assert sorted(handled) == ["a1", "b1"]
        assert sorted(settled) == [("ack", "b1"), ("retry", "a1"), ("retry", "a2"), ("retry", "a3")]
        assert settled.index(("retry", "a1")) < settled.index(("retry", "a2"))
        assert subscriber.closed


async def test_a_retried_message_delivered_again_before_its_retry_returned_is_handled() -> None:
    async with bank() as (_broker, _store, runtime):
        settled: list[tuple[str, str]] = []
        calls: list[str] = []
        subscriber = ScriptedSubscriber([])

        class QuicklyBack(ScriptedDelivery):
            """Its retry makes the broker deliver it again before the retry call returns."""

            async def retry(self, delay_seconds: float) -> None:
                await super().retry(delay_seconds)
                again = ScriptedDelivery(self.message, settled)
                again.attempt = self.attempt + 1
                subscriber.batch = [again]
                await asyncio.sleep(0.05)  # the consumer receives it meanwhile

        async def fails_once(ctx: ExecutionContext, message: Message) -> None:
            calls.append(message.id)
            if len(calls) == 1:
                raise ValueError("not yet")

        subscriber.batch = [QuicklyBack(deposit_message("m1"), settled)]
        consumer = Consumer(subscriber, runtime, {"deposit": fails_once}, FAST)
        async with asyncio.timeout(10), asyncio.TaskGroup() as group:
            group.create_task(consumer.run())
            await waiting_for(lambda: len(settled) == 2)
            consumer.stop()
        assert settled == [("retry", "m1"), ("ack", "m1")]
        assert calls == ["m1", "m1"]
