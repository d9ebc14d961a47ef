"""Units of work: several aggregates saved together, all or none, on every event store.

In-process behaviour runs on the memory store, a SQLite file and PostgreSQL; the atomicity
that matters in production is then checked across processes: two processes making transfers
between the same two accounts, and a process killed mid-run, never leave a transfer half
stored.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

from forze import (
    AGGREGATES,
    EVENT_STORE,
    AggregateSpec,
    ConcurrencyError,
    DepsModule,
    DomainError,
    ExecutionContext,
    ReadOnlyOperationError,
    RecordedEvent,
    Runtime,
    Usecase,
    WiringError,
    build_runtime,
)
from forze_eventstore import (
    EventSourcedRepositories,
    InMemoryEventStore,
    SQLiteDatabase,
    SQLiteEventStore,
    event_store_module,
    sqlite_events_module,
)
from forze_examples.bank import (
    ACCOUNTS,
    BALANCES,
    BALANCES_PROJECTION,
    DEPOSIT,
    OPEN_ACCOUNT,
    TRANSFER,
    Account,
    Deposit,
    OpenAccount,
    Transfer,
)
from forze_mongo import MongoDatabase, mongo_module
from forze_postgres import postgres_module
from forze_projections import SQLiteProjectionBackend, add_inline_projection
from tests.mongo_support import MONGO_URL

Wiring = Callable[[], AbstractAsyncContextManager[DepsModule]]


@asynccontextmanager
async def _memory() -> AsyncIterator[DepsModule]:
    yield event_store_module(InMemoryEventStore())


@pytest.fixture(params=["memory", "sqlite", "postgres", "mongo"])
def wiring(request: pytest.FixtureRequest, tmp_path: Path) -> Wiring:
    """How to get an event-store module of each kind, fresh for the test."""
    if request.param == "memory":
        return _memory
    if request.param == "sqlite":

        @asynccontextmanager
        async def _sqlite() -> AsyncIterator[DepsModule]:
            yield sqlite_events_module(tmp_path / "events.db")

        return _sqlite
    if request.param == "mongo":

        @asynccontextmanager
        async def _mongo() -> AsyncIterator[DepsModule]:
            name = f"forze_test_{uuid.uuid4().hex[:12]}"
            try:
                yield mongo_module(MONGO_URL, database=name)
            finally:
                await _drop_mongo(name)

        return _mongo
    dsn = request.getfixturevalue("postgres_dsn")

    @asynccontextmanager
    async def _postgres() -> AsyncIterator[DepsModule]:
        schema = f"uow_{uuid.uuid4().hex[:10]}"
        try:
            yield postgres_module(dsn, schema=schema, max_connections=3)
        finally:
            connection = await asyncpg.connect(dsn)
            try:
                await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            finally:
                await connection.close()

    return _postgres


@asynccontextmanager
async def _bank(wiring: Wiring, *usecases: Usecase[object, object]) -> AsyncIterator[Runtime]:
    async with (
        wiring() as module,
        build_runtime(module, usecases=(OPEN_ACCOUNT, DEPOSIT, TRANSFER, *usecases)) as runtime,
    ):
        await runtime.execute(OPEN_ACCOUNT, OpenAccount(account_id="a", owner="ann"))
        await runtime.execute(OPEN_ACCOUNT, OpenAccount(account_id="b", owner="bob"))
        await runtime.execute(DEPOSIT, Deposit(account_id="a", amount=100))
        yield runtime


async def _versions(runtime: Runtime) -> tuple[int, int]:
    store = runtime.port(EVENT_STORE)
    return await store.stream_version("account-a"), await store.stream_version("account-b")


def _usecase(
    name: str, handler: Callable[[ExecutionContext, object], object]
) -> Usecase[object, object]:
    return Usecase.command(name, handler)  # type: ignore[arg-type]


async def test_a_unit_stores_the_changes_to_both_aggregates(wiring: Wiring) -> None:
    async with _bank(wiring) as runtime:
        await runtime.execute(
            TRANSFER, Transfer(transfer_id="t1", from_account="a", to_account="b", amount=30)
        )

        store = runtime.port(EVENT_STORE)
        a_events = [e.event_type for e in await store.read_stream("account-a")]
        b_events = [e.event_type for e in await store.read_stream("account-b")]
        assert a_events[-1] == "TransferSent"
        assert b_events[-1] == "TransferReceived"
        both = (
            (await store.read_stream("account-a"))[-1],
            (await store.read_stream("account-b"))[-1],
        )
        assert abs(both[0].position - both[1].position) == 1, "one append, adjacent positions"


async def test_a_concurrent_change_to_either_aggregate_stores_nothing(wiring: Wiring) -> None:
    async def interleaved(ctx: ExecutionContext, _: object) -> None:
        async with ctx.unit_of_work() as unit:
            a = await unit.aggregates(ACCOUNTS).load("a")
            b = await unit.aggregates(ACCOUNTS).load("b")
            a.send_transfer("t2", "b", 10)
            b.receive_transfer("t2", "a", 10)
            async with ctx.aggregates(ACCOUNTS).edit("b") as meanwhile:
                meanwhile.deposit(1)

    usecase = _usecase("interleaved", interleaved)
    async with _bank(wiring, usecase) as runtime:
        before = await _versions(runtime)

        with pytest.raises(ConcurrencyError):
            await runtime.execute(usecase, None)

        assert await _versions(runtime) == (before[0], before[1] + 1), "only the deposit"


async def test_an_error_in_the_block_stores_nothing(wiring: Wiring) -> None:
    async def failing(ctx: ExecutionContext, _: object) -> None:
        async with ctx.unit_of_work() as unit:
            (await unit.aggregates(ACCOUNTS).load("a")).deposit(5)
            (await unit.aggregates(ACCOUNTS).load("b")).deposit(5)
            raise DomainError("changed my mind")

    usecase = _usecase("failing", failing)
    async with _bank(wiring, usecase) as runtime:
        before = await _versions(runtime)

        with pytest.raises(DomainError, match="changed my mind"):
            await runtime.execute(usecase, None)

        assert await _versions(runtime) == before


async def test_a_created_aggregate_whose_stream_appeared_meanwhile_fails_the_whole_unit(
    wiring: Wiring,
) -> None:
    async def open_and_fund(ctx: ExecutionContext, _: object) -> None:
        async with ctx.unit_of_work() as unit:
            async with unit.aggregates(ACCOUNTS).create("c") as created:
                created.open("cid")
            (await unit.aggregates(ACCOUNTS).load("a")).withdraw(10)
            async with ctx.aggregates(ACCOUNTS).create("c") as other:
                other.open("someone else")

    usecase = _usecase("open_and_fund", open_and_fund)
    async with _bank(wiring, usecase) as runtime:
        before = await _versions(runtime)

        with pytest.raises(ConcurrencyError):
            await runtime.execute(usecase, None)

        assert await _versions(runtime) == before
        owners = await runtime.port(EVENT_STORE).read_stream("account-c")
        assert [e.data["owner"] for e in owners] == ["someone else"]


async def test_loading_an_aggregate_twice_in_a_unit_gives_the_same_object() -> None:
    seen: list[Account] = []

    async def twice(ctx: ExecutionContext, _: object) -> None:
        async with ctx.unit_of_work() as unit:
            seen.append(await unit.aggregates(ACCOUNTS).load("a"))
            seen.append(await unit.aggregates(ACCOUNTS).load("a"))
            seen[0].deposit(1)
            seen[1].deposit(1)

    usecase = _usecase("twice", twice)
    async with _bank(_memory, usecase) as runtime:
        await runtime.execute(usecase, None)

        assert seen[0] is seen[1]
        assert await runtime.port(EVENT_STORE).stream_version("account-a") == 4


async def test_commit_inside_the_block_returns_what_was_stored_once() -> None:
    results: list[object] = []

    async def early(ctx: ExecutionContext, _: object) -> None:
        async with ctx.unit_of_work() as unit:
            (await unit.aggregates(ACCOUNTS).load("b")).deposit(2)
            results.append(await unit.commit())
            results.append(await unit.commit())

    usecase = _usecase("early", early)
    async with _bank(_memory, usecase) as runtime:
        await runtime.execute(usecase, None)

        assert results[0] == results[1]
        assert [r.stream_id for r in results[0]] == ["account-b"]  # type: ignore[attr-defined]
        assert await runtime.port(EVENT_STORE).stream_version("account-b") == 2


async def test_a_unit_refuses_aggregates_stored_in_another_event_store() -> None:
    ledgers = AggregateSpec("ledger", Account, ACCOUNTS.events)
    other = DepsModule("other").provide(
        AGGREGATES, EventSourcedRepositories(InMemoryEventStore()), route="ledger"
    )

    async def across(ctx: ExecutionContext, _: object) -> None:
        async with ctx.unit_of_work() as unit:
            await unit.aggregates(ACCOUNTS).load("a")
            unit.aggregates(ledgers)

    usecase = _usecase("across", across)
    async with (
        _memory() as module,
        build_runtime(module, other, usecases=(OPEN_ACCOUNT, usecase)) as runtime,
    ):
        await runtime.execute(OPEN_ACCOUNT, OpenAccount(account_id="a", owner="ann"))
        with pytest.raises(WiringError, match="one event store"):
            await runtime.execute(usecase, None)


async def test_a_query_cannot_open_a_unit_of_work() -> None:
    async def reading(ctx: ExecutionContext, _: object) -> None:
        async with ctx.unit_of_work() as unit:
            await unit.aggregates(ACCOUNTS).load("a")

    usecase: Usecase[object, object] = Usecase.query("reading", reading)
    async with _bank(_memory, usecase) as runtime:
        with pytest.raises(ReadOnlyOperationError):
            await runtime.execute(usecase, None)


async def test_execute_and_append_are_refused_inside_a_unit() -> None:
    async def retrying(ctx: ExecutionContext, _: object) -> None:
        async with ctx.unit_of_work() as unit:
            await unit.aggregates(ACCOUNTS).execute("a", lambda account: account.deposit(1))

    usecase = _usecase("retrying", retrying)
    async with _bank(_memory, usecase) as runtime:
        with pytest.raises(WiringError, match="retry the whole usecase"):
            await runtime.execute(usecase, None)


async def test_a_redelivered_units_events_are_stored_once(wiring: Wiring) -> None:
    async with _bank(wiring) as runtime:
        command = Transfer(transfer_id="t9", from_account="a", to_account="b", amount=7)
        store = runtime.port(EVENT_STORE)

        await runtime.execute(TRANSFER, command, event_ids_from="message-1")
        first = await _versions(runtime)
        await runtime.execute(TRANSFER, command, event_ids_from="message-1")

        assert await _versions(runtime) == first
        sent = [e for e in await store.read_stream("account-a") if e.event_type == "TransferSent"]
        assert len(sent) == 1


async def test_an_inline_projection_sees_the_whole_unit_or_rolls_all_of_it_back(
    tmp_path: Path,
) -> None:
    database = SQLiteDatabase(tmp_path / "inline.db")
    store = SQLiteEventStore(database)
    backend = SQLiteProjectionBackend(database)
    await add_inline_projection(store, backend, BALANCES_PROJECTION)
    balances = backend.serving()(BALANCES)
    async with build_runtime(
        event_store_module(store), usecases=(OPEN_ACCOUNT, DEPOSIT, TRANSFER)
    ) as runtime:
        await runtime.execute(OPEN_ACCOUNT, OpenAccount(account_id="a", owner="ann"))
        await runtime.execute(OPEN_ACCOUNT, OpenAccount(account_id="b", owner="bob"))
        await runtime.execute(DEPOSIT, Deposit(account_id="a", amount=50))
        move = Transfer(transfer_id="t", from_account="a", to_account="b", amount=5)

        await runtime.execute(TRANSFER, move)
        seen = [await balances.get("a"), await balances.get("b")]
        assert [None if b is None else b.balance for b in seen] == [45, 5]

        async def refuse(events: Sequence[RecordedEvent]) -> None:
            if any(event.stream_id == "account-b" for event in events):
                raise DomainError("the read model refuses")

        store.add_append_hook(refuse)
        before = await _versions(runtime)
        with pytest.raises(DomainError, match="refuses"):
            await runtime.execute(TRANSFER, move.model_copy(update={"transfer_id": "u"}))

        assert await _versions(runtime) == before
        seen = [await balances.get("a"), await balances.get("b")]
        assert [None if b is None else b.balance for b in seen] == [45, 5]
    database.close()


# --- across processes ----------------------------------------------------------------------


async def _spawn(*arguments: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.unit_of_work_worker",
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _line(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 60)
    if not line:
        assert process.stderr is not None
        raise AssertionError((await process.stderr.read()).decode()[-3000:])
    return line.decode().strip()


async def _check_no_half_transfer(runtime: Runtime) -> tuple[int, int]:
    """Every transfer is either stored on both accounts or on neither; the balances.

    The two streams are read one after the other, and a killed worker's last ``COMMIT`` may
    still be on its way to the server (sent before the kill, run after it): a commit landing
    between the two reads shows a transfer on one account only. So a half transfer must still
    be there when read again; one stored half stays half forever.
    """
    store = runtime.port(EVENT_STORE)
    deadline = time.monotonic() + 10
    while True:
        a = await store.read_stream("account-a")
        b = await store.read_stream("account-b")
        sent = {e.data["transfer_id"] for e in [*a, *b] if e.event_type == "TransferSent"}
        got = {e.data["transfer_id"] for e in [*a, *b] if e.event_type == "TransferReceived"}
        if sent == got or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert sent == got, f"half-stored transfers: {sent ^ got}"
    accounts = runtime.port(AGGREGATES)(ACCOUNTS)
    return (await accounts.load("a")).balance, (await accounts.load("b")).balance


async def _drop_mongo(name: str) -> None:
    db = MongoDatabase.connect(MONGO_URL, database=name)
    try:
        await db.client.drop_database(name)
    finally:
        await db.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres", "mongo"])
async def test_two_processes_transferring_between_the_same_accounts_keep_every_transfer_whole(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    where = [backend, str(tmp_path / "bank.db")]
    wiring: Wiring
    if backend == "postgres":
        dsn = request.getfixturevalue("postgres_dsn")
        schema = f"uowp_{uuid.uuid4().hex[:10]}"
        where = [backend, dsn, schema]

        @asynccontextmanager
        async def wiring() -> AsyncIterator[DepsModule]:
            yield postgres_module(dsn, schema=schema, max_connections=2)

    elif backend == "mongo":
        where = [backend, MONGO_URL, f"forze_test_{uuid.uuid4().hex[:12]}"]

        @asynccontextmanager
        async def wiring() -> AsyncIterator[DepsModule]:
            yield mongo_module(MONGO_URL, database=where[2], append_lease=1.0)

    else:

        @asynccontextmanager
        async def wiring() -> AsyncIterator[DepsModule]:
            yield sqlite_events_module(where[1], synchronous="NORMAL")

    async with _bank(wiring) as runtime:
        count = 40
        workers = [await _spawn(*where, tag, str(count)) for tag in ("p", "q")]
        for worker in workers:
            assert await _line(worker) == "started"
        for worker in workers:
            assert await _line(worker) == "done"
            assert await worker.wait() == 0

        a, b = await _check_no_half_transfer(runtime)
        assert a + b == 100, "money is neither made nor lost"
        events = await runtime.port(EVENT_STORE).read_stream("account-a")
        moves = [e for e in events if e.event_type.startswith("Transfer")]
        assert len(moves) == 2 * count

        for round_, pause in enumerate((0.05, 0.2, 0.35)):
            killed = await _spawn(*where, f"k{round_}", "100000")
            assert await _line(killed) == "started"
            await asyncio.sleep(pause)
            killed.kill()
            await killed.wait()

            a, b = await _check_no_half_transfer(runtime)
            assert a + b == 100
    if backend == "postgres":
        connection = await asyncpg.connect(where[1])
        try:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{where[2]}" CASCADE')
        finally:
            await connection.close()
    if backend == "mongo":
        await _drop_mongo(where[2])
