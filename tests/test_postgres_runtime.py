"""The bank example on a runtime wired with postgres_module: pool lifecycle, usecases,
conflict retries, and a projection served from PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from forze import EVENT_STORE, build_runtime, retry_on_conflict
from forze_examples.bank import (
    BALANCES_PROJECTION,
    DEPOSIT,
    GET_BALANCE,
    OPEN_ACCOUNT,
    Deposit,
    GetBalance,
    OpenAccount,
)
from forze_mock import MockDepsModule
from forze_postgres import postgres_module
from forze_projections import PROJECTION_BACKEND, Projector


async def test_the_bank_runs_on_postgres_through_the_runtime(postgres_dsn: str) -> None:
    schema = f"rt_{uuid.uuid4().hex[:8]}"
    module = postgres_module(postgres_dsn, schema=schema)
    usecases = (OPEN_ACCOUNT, DEPOSIT, GET_BALANCE)
    async with build_runtime(
        module, MockDepsModule(), usecases=usecases, middleware=[retry_on_conflict(20)]
    ) as runtime:
        await runtime.execute(OPEN_ACCOUNT, OpenAccount(account_id="a", owner="ann"))
        await asyncio.gather(
            *(runtime.execute(DEPOSIT, Deposit(account_id="a", amount=5)) for _ in range(10))
        )
        store = runtime.port(EVENT_STORE)
        assert type(store).__name__ == "PostgresEventStore"
        assert await store.stream_version("account-a") == 11
        projector = Projector(store, runtime.port(PROJECTION_BACKEND), [BALANCES_PROJECTION])
        await projector.catch_up()
        balance = await runtime.execute(GET_BALANCE, GetBalance(account_id="a"))
        assert balance is not None
        assert balance.balance == 50
    connection = await asyncpg.connect(postgres_dsn)
    try:
        tables = await connection.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1", schema
        )
        assert tables > 0
        await connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await connection.close()
