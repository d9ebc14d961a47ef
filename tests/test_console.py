"""The web console over HTTP, as ``forze serve`` runs it in its own process on the demo's
SQLite file (and on PostgreSQL), with other processes writing to the same store."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from forze import build_runtime
from forze_cli import main
from forze_examples.bank_http import SERVED_PROJECTIONS, bank_app
from forze_projections import PROJECTOR, sqlite_module
from tests.cli_stores_support import drop_schema
from tests.console_support import append, caught_up
from tests.http_support import free_port, served_process, serving

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    database = tmp_path_factory.mktemp("console") / "demo.sqlite"
    argv = ["demo", "--db", str(database), "--accounts", "30", "--commands", "400"]
    assert main([*argv, "--workers", "2"]) == 0
    return database


@pytest.fixture(scope="module")
def console(demo_file: Path) -> Iterator[httpx.Client]:
    """An HTTP client of ``forze serve`` on the demo's file, caught up."""
    argv = ["-m", "forze_cli._main", "serve", "--db", str(demo_file), "--port", str(free_port())]
    with served_process(argv) as url, httpx.Client(base_url=url, timeout=30) as http:
        caught_up(http)
        yield http


def test_the_overview_shows_the_head_and_every_projection(console: httpx.Client) -> None:
    page = console.get("/console/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for name in ("account_balances", "forze_catalog"):
        assert f'data-projection="{name}"' in page.text
    head = console.get("/feed", params={"after": 0, "limit": 1000}).json()["events"][-1]["position"]
    assert f'<strong id="head">{head}</strong>' in page.text
    assert console.get("/", follow_redirects=False).headers["location"] == "/console/"


def test_streams_are_found_by_words_of_their_id_and_listed_by_category(
    console: httpx.Client,
) -> None:
    found = console.get("/console/streams", params={"q": "00003"}).text
    assert 'href="/console/streams/account-00003"' in found
    assert "account-00004" not in found
    listed = console.get("/console/streams", params={"category": "account"}).text
    assert listed.count('class="stream"') == 30
    assert "No stream matches" in console.get("/console/streams?category=nothing").text


def test_a_stream_page_shows_each_event_with_its_data_and_metadata(console: httpx.Client) -> None:
    page = console.get("/console/streams/account-00003")
    assert page.status_code == 200
    assert "Stream account-00003" in page.text
    assert '<span class="type">AccountOpened</span>' in page.text
    assert "&#34;owner&#34;" in page.text  # the data, escaped JSON
    assert 'class="correlation" href="/console/correlations/' in page.text
    missing = console.get("/console/streams/account-none")
    assert missing.status_code == 404
    assert "No stream account-none is stored" in missing.text


def test_the_two_events_of_one_transfer_share_a_correlation_page(console: httpx.Client) -> None:
    sent = console.get("/feed", params={"type": "TransferSent", "limit": 1}).json()["events"][0]
    page = console.get(f"/console/correlations/{sent['metadata']['correlation_id']}")
    assert page.status_code == 200
    assert "2 events, in feed order" in page.text
    assert f"{sent['stream_id']} v{sent['version']}" in page.text
    assert "TransferReceived" in page.text
    assert console.get("/console/correlations/none").status_code == 404


def test_causation_is_linked_from_the_cause_and_from_the_effect(
    console: httpx.Client, demo_file: Path
) -> None:
    cause = console.get("/feed", params={"limit": 1}).json()["events"][0]
    effect = f"account-effect{uuid.uuid4().hex[:6]}"
    append(demo_file, effect, "eve", causation_id=cause["event_id"])
    caught_up(console)
    cause_page = console.get(f"/console/streams/{cause['stream_id']}").text
    assert f'class="effect" href="/console/streams/{effect}?from_version=1#v1"' in cause_page
    effect_page = console.get(f"/console/streams/{effect}").text
    assert f'class="cause" href="/console/events/{cause["event_id"]}"' in effect_page
    event_page = console.get(f"/console/events/{cause['event_id']}").text
    assert f"{cause['stream_id']} v{cause['version']}" in event_page
    assert f"{effect} v1" in event_page


def test_a_cause_that_is_a_message_not_an_event_lists_what_it_caused(
    console: httpx.Client, demo_file: Path
) -> None:
    effect = f"account-msg{uuid.uuid4().hex[:6]}"
    append(demo_file, effect, "max", causation_id="message-42")
    caught_up(console)
    page = console.get("/console/events/message-42")
    assert page.status_code == 200
    assert "No stored event has this id" in page.text
    assert f"{effect} v1" in page.text
    assert console.get("/console/events/message-none").status_code == 404


def test_text_from_events_is_shown_escaped_never_as_markup(
    console: httpx.Client, demo_file: Path
) -> None:
    stream_id = f"account-<b>{uuid.uuid4().hex[:6]}</b>"
    append(demo_file, stream_id, "<img src=x onerror=alert(1)>", correlation_id="<i>")
    caught_up(console)
    page = console.get(f"/console/streams/{quote(stream_id, safe='')}").text
    assert "<img" not in page
    assert "<b>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert f'href="/console/correlations/{quote("<i>", safe="")}"' in page
    found = console.get("/console/streams", params={"q": stream_id.removeprefix("account-")}).text
    assert f'href="/console/streams/{quote(stream_id, safe="")}"' in found


def test_actions_need_the_console_header(console: httpx.Client) -> None:
    refused = console.post("/console/api/projections/account_balances/rebuild")
    assert refused.status_code == 403
    assert "X-Forze-Console" in refused.json()["detail"]
    statuses = console.get("/console/api/projections").json()
    assert not any(s["rebuilding"] or s["outcome"] for s in statuses)


def test_a_rebuild_runs_in_the_serving_process_and_leaves_the_same_documents(
    console: httpx.Client,
) -> None:
    before = console.get("/read-models/account_balances/documents", params={"limit": 1000}).json()
    started = console.post(
        "/console/api/projections/account_balances/rebuild", headers={"X-Forze-Console": "1"}
    )
    assert started.status_code == 202
    deadline = time.monotonic() + 60
    while True:
        (status,) = [
            s
            for s in console.get("/console/api/projections").json()
            if s["name"] == "account_balances"
        ]
        if status["outcome"] == "rebuilt":
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    after = console.get("/read-models/account_balances/documents", params={"limit": 1000}).json()
    assert after == before
    unknown = console.post(
        "/console/api/projections/nope/rebuild", headers={"X-Forze-Console": "1"}
    )
    assert unknown.status_code == 404


def test_a_reset_is_refused_while_a_process_runs_the_projection(console: httpx.Client) -> None:
    headers = {"X-Forze-Console": "1"}
    path = "/console/api/projections/account_balances/reset"
    unconfirmed = console.post(path, json={"confirm": "account"}, headers=headers)
    assert unconfirmed.status_code == 422
    busy = console.post(path, json={"confirm": "account_balances"}, headers=headers)
    assert busy.status_code == 409
    assert "rebuild" in busy.json()["detail"]
    page = console.get("/console/").text
    assert 'class="reset" disabled' in page


async def test_a_reset_of_a_projection_no_process_runs_forgets_its_checkpoint(
    tmp_path: Path,
) -> None:
    database = tmp_path / "bank.sqlite"
    module = sqlite_module(database, projections=SERVED_PROJECTIONS, run_projectors=False)
    async with build_runtime(module) as runtime:
        await runtime.port(PROJECTOR).catch_up()  # nothing stored yet: a checkpoint of 0
        async with serving(bank_app(runtime)) as url, httpx.AsyncClient(base_url=url) as http:
            opened = await http.post(
                "/commands/open_account", json={"account_id": "a1", "owner": "ann"}
            )
            assert opened.status_code == 200, opened.text
            await runtime.port(PROJECTOR).catch_up()
            reset = await http.post(
                "/console/api/projections/account_balances/reset",
                json={"confirm": "account_balances"},
                headers={"X-Forze-Console": "1"},
            )
            assert reset.status_code == 200, reset.text
            statuses = (await http.get("/console/api/projections")).json()
    (balances,) = [s for s in statuses if s["name"] == "account_balances"]
    assert balances["checkpoint"] == 0
    assert balances["outcome"] == "reset"


def test_serve_refuses_a_file_that_is_no_forze_store_and_a_store_url_it_cannot_serve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database")
    assert main(["serve", "--db", str(text)]) == 4  # not a forze store
    assert main(["serve", "--store", "ftp://example.com/x"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2
    assert "notes.txt" in errors[0]
    assert "--store must be a sqlite:///PATH, postgresql://... or mongodb://... URL" in errors[1]
    assert text.read_text() == "not a database"


def test_serve_reports_a_port_it_cannot_listen_on_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["serve", "--db", str(tmp_path / "new.sqlite"), "--port", str(port)]) == 2
    assert capsys.readouterr().err == (
        f"forze: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )
    assert not (tmp_path / "new.sqlite").exists()


def test_serve_on_postgresql_serves_the_api_and_the_console(postgres_dsn: str) -> None:
    schema = f"console_{uuid.uuid4().hex[:10]}"
    port = str(free_port())
    argv = ["-m", "forze_cli._main", "serve", "--store", postgres_dsn, "--schema", schema]
    try:
        with served_process([*argv, "--port", port]) as url, httpx.Client(base_url=url) as http:
            opened = http.post("/commands/open_account", json={"account_id": "p1", "owner": "pat"})
            assert opened.status_code == 200, opened.text
            http.post(
                "/commands/deposit", json={"account_id": "p1", "amount": 5}
            ).raise_for_status()
            caught_up(http)
            page = http.get("/console/streams/account-p1").text
            assert "MoneyDeposited" in page
            assert 'href="/console/streams/account-p1"' in http.get("/console/streams").text
    finally:
        asyncio.run(drop_schema(postgres_dsn, schema))
