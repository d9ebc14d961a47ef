"""One call per backend wires an application: events, snapshots, read models, checkpoints and
the projector, opened and stopped with the runtime (``forze_projections.sqlite_module``,
``forze_postgres.postgres_module``, ``forze_mongo.mongo_module``); requirements are declared
with the specs themselves."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from forze import (
    AGGREGATES,
    EVENT_STORE,
    DepsModule,
    ExecutionContext,
    Usecase,
    WiringError,
    build_runtime,
)
from forze.adapter_kit import CHECKPOINTS
from forze_examples.bank import (
    ACCOUNTS,
    BALANCES_PROJECTION,
    DEPOSIT,
    GET_BALANCE,
    OPEN_ACCOUNT,
    Deposit,
    GetBalance,
    OpenAccount,
)
from forze_mongo import MongoDatabase, mongo_module
from forze_postgres import postgres_module
from forze_projections import PROJECTOR, ProjectionState, sqlite_module
from tests.mongo_support import MONGO_URL

ModuleOf = Callable[..., DepsModule]
"""``module_of(projections=..., inline=..., run_projectors=...)``: a fresh backend module."""

USECASES = (OPEN_ACCOUNT, DEPOSIT, GET_BALANCE)


@pytest.fixture(params=["sqlite", "postgres", "mongo"])
def module_of(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ModuleOf]:
    """Each backend's one-call module, over a file, schema or database of this test's own."""
    if request.param == "sqlite":
        path = tmp_path / "app.db"
        yield lambda **options: sqlite_module(path, synchronous="NORMAL", **options)
        return
    if request.param == "mongo":
        database = f"forze_test_{uuid.uuid4().hex[:12]}"
        yield lambda **options: mongo_module(MONGO_URL, database=database, **options)
        asyncio.run(_drop_database(database))
        return
    dsn = request.getfixturevalue("postgres_dsn")
    schema = f"mods_{uuid.uuid4().hex[:10]}"
    yield lambda **options: postgres_module(dsn, schema=schema, max_connections=4, **options)
    asyncio.run(_drop_schema(dsn, schema))


async def _drop_database(name: str) -> None:
    db = MongoDatabase.connect(MONGO_URL, database=name)
    try:
        await db.client.drop_database(name)
    finally:
        await db.close()


async def _drop_schema(dsn: str, schema: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await connection.close()


async def _open_and_deposit(runtime: Any, amount: int) -> int:
    await runtime.execute(OPEN_ACCOUNT, OpenAccount(account_id="a", owner="ann"))
    await runtime.execute(DEPOSIT, Deposit(account_id="a", amount=amount))
    return await runtime.port(EVENT_STORE).head_position()  # type: ignore[no-any-return]


async def test_projections_follow_the_feed_while_the_runtime_runs(module_of: ModuleOf) -> None:
    module = module_of(projections=[BALANCES_PROJECTION])
    async with build_runtime(module, usecases=USECASES) as runtime:
        head = await _open_and_deposit(runtime, 40)

        await runtime.port(PROJECTOR).wait_until(head, timeout=20)

        balance = await runtime.execute(GET_BALANCE, GetBalance(account_id="a"))
        assert balance is not None
        assert balance.balance == 40
        statuses = await runtime.port(PROJECTOR).status()
        assert [s.state for s in statuses] == [ProjectionState.LIVE]


async def test_the_projector_stops_with_the_runtime_and_resumes_from_its_checkpoint(
    module_of: ModuleOf,
) -> None:
    async with build_runtime(module_of(projections=[BALANCES_PROJECTION]), usecases=USECASES) as rt:
        head = await _open_and_deposit(rt, 5)
        await rt.port(PROJECTOR).wait_until(head, timeout=20)

    async with build_runtime(module_of(run_projectors=False), usecases=USECASES) as rt:
        await rt.execute(DEPOSIT, Deposit(account_id="a", amount=6))
        stale = await rt.execute(GET_BALANCE, GetBalance(account_id="a"))
        assert stale is not None
        assert stale.balance == 5, "nothing ran the projection in this runtime"

    async with build_runtime(module_of(projections=[BALANCES_PROJECTION]), usecases=USECASES) as rt:
        await rt.port(PROJECTOR).wait_until(await rt.port(EVENT_STORE).head_position(), timeout=20)
        balance = await rt.execute(GET_BALANCE, GetBalance(account_id="a"))
        assert balance is not None
        assert balance.balance == 11


async def test_an_inline_projection_is_consistent_as_soon_as_the_usecase_returns(
    module_of: ModuleOf, request: pytest.FixtureRequest
) -> None:
    if "mongo" in request.node.callspec.id:
        with pytest.raises(WiringError, match="inline projections need the append's own"):
            module_of(inline=[BALANCES_PROJECTION])
        return
    async with build_runtime(module_of(inline=[BALANCES_PROJECTION]), usecases=USECASES) as rt:
        await _open_and_deposit(rt, 70)

        balance = await rt.execute(GET_BALANCE, GetBalance(account_id="a"))

        assert balance is not None
        assert balance.balance == 70


def test_a_projection_named_twice_is_refused_when_the_module_is_made(tmp_path: Path) -> None:
    with pytest.raises(WiringError, match="named twice"):
        sqlite_module(
            tmp_path / "x.db", projections=[BALANCES_PROJECTION], inline=[BALANCES_PROJECTION]
        )


async def _deposit(ctx: ExecutionContext, command: Deposit) -> None:
    async with ctx.aggregates(ACCOUNTS).edit(command.account_id) as account:
        account.deposit(command.amount)


def test_a_usecase_names_what_it_needs_with_the_spec_itself() -> None:
    usecase = Usecase.command("deposit", _deposit, ACCOUNTS)

    assert usecase.needs == ((AGGREGATES, ACCOUNTS),)


def test_a_requirement_that_is_no_requirement_is_refused_with_what_was_given() -> None:
    with pytest.raises(WiringError, match=r"declares \(\(AGGREGATES, AggregateSpec 'account'\),\)"):
        Usecase.command("deposit", _deposit, ((AGGREGATES, ACCOUNTS),))  # type: ignore[arg-type]


# --- as deployed: service processes sharing one backend ------------------------------------


async def _spawn(where: list[str], tag: str, count: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.backend_module_worker",
        *where,
        tag,
        str(count),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _expect(process: asyncio.subprocess.Process, line: str) -> None:
    assert process.stdout is not None
    got = await asyncio.wait_for(process.stdout.readline(), 60)
    if not got:
        assert process.stderr is not None
        raise AssertionError((await process.stderr.read()).decode()[-3000:])
    assert got.decode().strip() == line


@pytest.mark.parametrize("backend", ["sqlite", "postgres", "mongo"])
async def test_services_sharing_a_backend_keep_the_read_model_right_when_one_is_killed(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    where = [backend, str(tmp_path / "app.db")]
    if backend == "postgres":
        where = [backend, request.getfixturevalue("postgres_dsn"), f"svc_{uuid.uuid4().hex[:10]}"]
    if backend == "mongo":
        where = [backend, MONGO_URL, f"forze_test_{uuid.uuid4().hex[:12]}"]
    first = await _spawn(where, "p", 30)
    await _expect(first, "started")
    second = await _spawn(where, "q", 30)
    await _expect(second, "started")
    await _expect(first, "deposited")
    first.kill()  # mid-service, maybe holding the projection's lease mid-batch
    await first.wait()
    await _expect(second, "deposited")

    try:
        module = sqlite_module(where[1]) if backend == "sqlite" else None
        if backend == "mongo":
            module = mongo_module(where[1], database=where[2])
        if module is None:
            module = postgres_module(where[1], schema=where[2], max_connections=2)
        async with build_runtime(module, usecases=(GET_BALANCE,)) as runtime:
            head = await runtime.port(EVENT_STORE).head_position()
            checkpoints = runtime.port(CHECKPOINTS)
            deadline = asyncio.get_running_loop().time() + 30
            while await checkpoints.load(BALANCES_PROJECTION.checkpoint_name) < head:
                assert asyncio.get_running_loop().time() < deadline, "the standby never took over"
                await asyncio.sleep(0.05)
            for tag in ("p", "q"):
                balance = await runtime.execute(GET_BALANCE, GetBalance(account_id=tag))
                assert balance is not None
                assert balance.balance == 30, f"account {tag}: every deposit counted once"
    finally:
        assert second.stdin is not None
        second.stdin.close()
        assert await asyncio.wait_for(second.wait(), 30) == 0
        if backend == "postgres":
            await _drop_schema(where[1], where[2])
        if backend == "mongo":
            await _drop_database(where[2])
