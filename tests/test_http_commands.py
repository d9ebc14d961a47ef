"""forze_fastapi's commands against a real server (uvicorn on a free port): the pydantic
command is the body, the stream's version is the ETag, If-Match is the expected version
(412), a conflict without it is 409, Idempotency-Key replays, and the request's correlation
id reaches the events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel

from forze import EVENT_STORE, ExecutionContext, Runtime, Usecase, build_runtime
from forze.contracts import EventStore
from forze_examples.bank import (
    ACCOUNTS,
    DEPOSIT,
    OPEN_ACCOUNT,
    TRANSFER,
    WITHDRAW,
)
from forze_fastapi import forze_app
from forze_mock import InMemoryIdempotencyStore
from forze_projections import sqlite_module
from tests.http_support import serving

GATE = asyncio.Barrier(2)


class SlowDeposit(BaseModel):
    """A deposit that waits for a second one between its load and its save."""

    account_id: str
    amount: int


async def _slow_deposit(ctx: ExecutionContext, command: SlowDeposit) -> int:
    async with ctx.aggregates(ACCOUNTS).edit(command.account_id) as account:
        account.deposit(command.amount)
        await GATE.wait()  # both requests loaded the same version
    return account.balance


SLOW_DEPOSIT = Usecase.command("slow_deposit", _slow_deposit, ACCOUNTS)
USECASES = (OPEN_ACCOUNT, DEPOSIT, WITHDRAW, TRANSFER, SLOW_DEPOSIT)


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    module = sqlite_module(tmp_path / "app.db", synchronous="NORMAL")
    async with build_runtime(module, usecases=USECASES) as running:
        yield running


@pytest.fixture
async def http(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = forze_app(runtime, commands=USECASES, idempotency=InMemoryIdempotencyStore())
    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield client


async def test_a_command_answers_its_result_and_the_streams_version_as_etag(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    opened = await http.post(
        "/commands/open_account",
        json={"account_id": "a1", "owner": "ann"},
        headers={"X-Correlation-ID": "checkout-7"},
    )
    assert opened.status_code == 200
    assert opened.headers["etag"] == '"1"'
    assert opened.json()["saved"][0]["stream_id"] == "account-a1"
    deposited = await http.post("/commands/deposit", json={"account_id": "a1", "amount": 30})
    assert (deposited.json()["result"], deposited.headers["etag"]) == (30, '"2"')
    store: EventStore = runtime.port(EVENT_STORE)
    events = await store.read_stream("account-a1")
    assert events[0].metadata["correlation_id"] == "checkout-7"
    assert events[1].metadata["correlation_id"] == deposited.headers["x-correlation-id"]


async def test_if_match_is_the_expected_version_and_a_stale_one_is_412_storing_nothing(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    await http.post("/commands/open_account", json={"account_id": "a1", "owner": "ann"})
    body = {"account_id": "a1", "amount": 5}
    fresh = await http.post("/commands/deposit", json=body, headers={"If-Match": '"1"'})
    assert (fresh.status_code, fresh.headers["etag"]) == (200, '"2"')
    stale = await http.post("/commands/deposit", json=body, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert (stale.json()["error"], stale.json()["actual_version"]) == ("precondition_failed", 2)
    assert await runtime.port(EVENT_STORE).stream_version("account-a1") == 2
    created = await http.post(
        "/commands/open_account",
        json={"account_id": "a2", "owner": "bo"},
        headers={"If-Match": '"0"'},
    )
    assert created.status_code == 200
    weird = await http.post("/commands/deposit", json=body, headers={"If-Match": 'W/"2"'})
    assert (weird.status_code, weird.json()["field"]) == (422, "If-Match")


async def test_a_conflict_without_if_match_is_409(http: httpx.AsyncClient) -> None:
    await http.post("/commands/open_account", json={"account_id": "a1", "owner": "ann"})
    body = {"account_id": "a1", "amount": 1}
    first, second = await asyncio.gather(
        http.post("/commands/slow_deposit", json=body),
        http.post("/commands/slow_deposit", json=body),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    conflict = first if first.status_code == 409 else second
    assert conflict.json()["error"] == "conflict"


async def test_the_same_idempotency_key_replays_and_another_body_with_it_is_422(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    await http.post("/commands/open_account", json={"account_id": "a1", "owner": "ann"})
    body = {"account_id": "a1", "amount": 12}
    key = {"Idempotency-Key": "pay-2026-0001"}
    first = await http.post("/commands/deposit", json=body, headers=key)
    again = await http.post("/commands/deposit", json=body, headers=key)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["etag"] == first.headers["etag"]
    assert await runtime.port(EVENT_STORE).stream_version("account-a1") == 2
    other = await http.post("/commands/deposit", json={**body, "amount": 13}, headers=key)
    assert (other.status_code, other.json()["field"]) == (422, "Idempotency-Key")


async def test_bad_bodies_are_422_with_the_field_and_domain_errors_are_422(
    http: httpx.AsyncClient,
) -> None:
    missing = await http.post("/commands/deposit", json={"account_id": "a1"})
    assert missing.status_code == 422
    assert missing.json()["field"] == "body.amount"
    wrong = await http.post("/commands/deposit", json={"account_id": "a1", "amount": "lots"})
    assert (wrong.status_code, wrong.json()["field"]) == (422, "body.amount")
    nothing = await http.post("/commands/deposit", json={"account_id": "nobody", "amount": 1})
    assert nothing.status_code == 404
    await http.post("/commands/open_account", json={"account_id": "a1", "owner": "ann"})
    broke = await http.post("/commands/withdraw", json={"account_id": "a1", "amount": 10**6})
    assert (broke.status_code, broke.json()["error"]) == (422, "domain_error")


async def test_an_idempotency_key_without_a_store_is_refused_not_ignored(runtime: Runtime) -> None:
    app = forze_app(runtime, commands=USECASES)
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as client:
        await client.post("/commands/open_account", json={"account_id": "a1", "owner": "ann"})
        refused = await client.post(
            "/commands/deposit",
            json={"account_id": "a1", "amount": 1},
            headers={"Idempotency-Key": "k-1"},
        )
    assert (refused.status_code, refused.json()["field"]) == (422, "Idempotency-Key")
    assert await runtime.port(EVENT_STORE).stream_version("account-a1") == 1
