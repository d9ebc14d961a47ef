"""forze_fastapi's read side against a real server (uvicorn on a free port): streams with
their version as ETag, the feed, the live feed as Server-Sent Events that resume from
Last-Event-ID, read-model queries checked against the model, and errors mapped once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from forze import EVENT_STORE, NewEvent, Runtime, build_runtime
from forze.contracts import EventStore
from forze.domain.errors import BrokerUnavailable, EventStoreUnavailable, StorageUnavailable
from forze.execution import EventStoreView
from forze_examples.bank import (
    BALANCES,
    DEPOSIT,
    OPEN_ACCOUNT,
    PROJECTIONS,
    Deposit,
    OpenAccount,
)
from forze_fastapi import forze_app
from forze_fastapi.errors import problem_for
from forze_projections import PROJECTOR, sqlite_module
from tests.http_support import SSEReader, serving


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    module = sqlite_module(tmp_path / "app.db", synchronous="NORMAL", projections=PROJECTIONS)
    async with build_runtime(module, usecases=(OPEN_ACCOUNT, DEPOSIT)) as running:
        for n, owner in enumerate(("ann", "bob", "cid")):
            await running.execute(OPEN_ACCOUNT, OpenAccount(account_id=f"a{n}", owner=owner))
            await running.execute(DEPOSIT, Deposit(account_id=f"a{n}", amount=10 * (n + 1)))
        head = await running.port(EVENT_STORE).head_position()
        await running.port(PROJECTOR).wait_until(head, timeout=20)
        yield running


@pytest.fixture
async def http(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = forze_app(runtime, read_models=[BALANCES], heartbeat=0.2)
    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield client


async def test_a_stream_reads_with_its_version_as_etag_and_answers_304_when_unchanged(
    http: httpx.AsyncClient,
) -> None:
    read = await http.get("/streams/account-a1")
    assert read.status_code == 200
    body = read.json()
    assert [e["version"] for e in body["events"]] == [1, 2]
    assert read.headers["etag"] == '"2"'
    assert body["events"][1]["data"]["amount"] == 20
    unchanged = await http.get("/streams/account-a1", headers={"If-None-Match": '"2"'})
    assert unchanged.status_code == 304
    latest = await http.get("/streams/account-a1", params={"backwards": "true", "limit": 1})
    assert [e["version"] for e in latest.json()["events"]] == [2]


async def test_a_missing_stream_is_404_and_bad_parameters_are_422_naming_the_field(
    http: httpx.AsyncClient,
) -> None:
    missing = await http.get("/streams/account-nobody")
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    bad = await http.get("/streams/account-a1", params={"limit": 0})
    assert bad.status_code == 422
    assert bad.json()["field"] == "query.limit"
    huge = await http.get("/feed", params={"after": 2**63})
    assert (huge.status_code, huge.json()["field"]) == (422, "query.after")


async def test_the_feed_pages_by_position_and_filters_by_type_and_category(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    everything = (await http.get("/feed", params={"limit": 1000})).json()["events"]
    assert len(everything) == await runtime.port(EVENT_STORE).count_events()
    first = (await http.get("/feed", params={"limit": 2})).json()
    rest = (await http.get("/feed", params={"after": first["next_after"]})).json()
    assert [e["position"] for e in first["events"] + rest["events"]] == [
        e["position"] for e in everything
    ]
    deposits = (await http.get("/feed", params={"type": "MoneyDeposited"})).json()["events"]
    assert {e["event_type"] for e in deposits} == {"MoneyDeposited"}
    assert len(deposits) == 3
    none = (await http.get("/feed", params={"category": "order"})).json()["events"]
    assert none == []


async def test_the_live_feed_catches_up_then_follows_and_resumes_from_last_event_id(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    store: EventStore = runtime.port(EVENT_STORE)
    history = await store.read_all()
    async with http.stream("GET", "/feed/live") as live:
        assert live.headers["content-type"].startswith("text/event-stream")
        reader = SSEReader(live)
        caught_up = await reader.take(len(history))
        await store.append("order-1", [NewEvent("Placed", {"n": 1})])
        ((last_id, placed),) = await reader.take(1)
    assert [int(i or 0) for i, _ in caught_up] == [e.position for e in history]
    assert placed["stream_id"] == "order-1"
    assert int(last_id or 0) == placed["position"]
    # disconnected; two more events while away
    for n in (2, 3):
        await store.append("order-1", [NewEvent("Placed", {"n": n})])
    headers = {"Last-Event-ID": str(last_id)}
    async with http.stream("GET", "/feed/live", headers=headers) as resumed:
        after = await SSEReader(resumed).take(2)
    assert [data["data"]["n"] for _, data in after] == [2, 3]


async def test_the_live_feed_filters_and_sends_heartbeats_while_idle(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    store: EventStore = runtime.port(EVENT_STORE)
    params: dict[str, str | int] = {"category": "order", "after": await store.head_position()}
    async with http.stream("GET", "/feed/live", params=params) as live:
        reader = SSEReader(live)
        assert await reader.comment(seconds=5) == ": keep-alive"
        await store.append("account-a0", [NewEvent("Noted", {})])
        await store.append("order-9", [NewEvent("Placed", {"n": 9})])
        ((_, only),) = await reader.take(1)
    assert only["stream_id"] == "order-9"


async def test_read_models_are_queried_with_filters_sort_cursors_count_and_search(
    http: httpx.AsyncClient,
) -> None:
    one = await http.get("/read-models/account_balances/documents/a1")
    assert (one.status_code, one.json()["balance"]) == (200, 20)
    assert (await http.get("/read-models/account_balances/documents/zz")).status_code == 404
    params: dict[str, Any] = {"filter": "balance:ge:20", "sort": "-balance", "limit": 1}
    first = (await http.get("/read-models/account_balances/documents", params=params)).json()
    assert [d["account_id"] for d in first["items"]] == ["a2"]
    params["cursor"] = first["next_cursor"]
    second = (await http.get("/read-models/account_balances/documents", params=params)).json()
    assert [d["account_id"] for d in second["items"]] == ["a1"]
    counted = await http.get(
        "/read-models/account_balances/count", params={"filter": ["balance:in:10,30"]}
    )
    assert counted.json() == {"count": 2}
    found = await http.get("/read-models/account_balances/search", params={"q": "bob"})
    assert [d["owner"] for d in found.json()["items"]] == ["bob"]


@pytest.mark.parametrize(
    ("filter_", "field"),
    [
        ("nofield:eq:1", "filter"),
        ("balance:like:1", "filter"),
        ("balance:eq:lots", "filter balance"),
        ("balance", "filter"),
    ],
)
async def test_a_bad_read_model_query_is_422_naming_the_field(
    http: httpx.AsyncClient, filter_: str, field: str
) -> None:
    bad = await http.get("/read-models/account_balances/documents", params={"filter": filter_})
    assert bad.status_code == 422
    assert bad.json()["field"] == field
    sort = await http.get("/read-models/account_balances/documents", params={"sort": "-nope"})
    assert (sort.status_code, sort.json()["field"]) == (422, "sort")


class _Down(EventStoreView):
    async def read_all(self, **_: Any) -> Any:
        raise EventStoreUnavailable("connection refused by 10.0.0.7:5432 (driver detail)")

    async def stream_version(self, stream_id: str) -> int:
        raise RuntimeError("a bug with a secret in it: password=hunter2")


async def test_an_outage_is_503_with_retry_after_and_a_bug_is_500_without_detail(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = _Down(runtime.port(EVENT_STORE))
    original = runtime.port

    def port(key: Any, route: str | None = None) -> Any:
        return down if key == EVENT_STORE else original(key, route)

    monkeypatch.setattr(runtime, "port", port)
    app = forze_app(runtime)
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as client:
        outage = await client.get("/feed", headers={"X-Correlation-ID": "req-42"})
        bug = await client.get("/streams/account-a1")
    assert outage.status_code == 503
    assert outage.headers["retry-after"] == "1"
    assert "10.0.0.7" not in outage.text
    assert outage.json()["correlation_id"] == "req-42"
    assert outage.headers["x-correlation-id"] == "req-42"
    assert bug.status_code == 500
    assert "hunter2" not in bug.text
    assert bug.json() == {
        "error": "internal",
        "detail": "internal error",
        "correlation_id": bug.headers["x-correlation-id"],
    }


@pytest.mark.parametrize(
    ("error", "said", "retry"),
    [
        (StorageUnavailable("s3 at 10.0.0.9 throttled (driver detail)"), "object storage", True),
        (StorageUnavailable("bucket gone at 10.0.0.9", transient=False), "object storage", False),
        (BrokerUnavailable("amqp://10.0.0.9 refused"), "broker", True),
    ],
    ids=["storage-transient", "storage-permanent", "broker"],
)
def test_an_object_storage_or_broker_outage_is_503_without_its_detail(
    error: Exception, said: str, retry: bool
) -> None:
    response = problem_for(error)
    assert response.status_code == 503
    assert ("retry-after" in response.headers) is retry
    body = bytes(response.body).decode()
    assert f"the {said} is unavailable" in body
    assert "10.0.0.9" not in body
