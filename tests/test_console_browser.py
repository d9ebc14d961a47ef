"""The console in a real headless browser: Debian's Chromium (installed by
``.ci/ensure-services.sh``) driven by Playwright for Python, against the bank and its console
served in their own process on the demo's SQLite file.

The served process also runs ``slow_audit`` (``tests.console_server``), a projection slow
enough (about 2 ms an event) for a rebuild's progress to be seen.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Dialog, Page, async_playwright, expect

from forze_cli import main
from tests.console_support import caught_up, caught_up_async, open_account
from tests.http_support import free_port, served_process

pytestmark = pytest.mark.timeout(300)

CHROMIUM = os.environ.get("FORZE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Without the background-networking flags Chromium keeps calling the closed network."""

SCREENSHOTS = os.environ.get("FORZE_CONSOLE_SCREENSHOTS")
"""A folder to keep the pages' screenshots in (they are always taken)."""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The console's URL and its SQLite file, with 1,500 demo commands, caught up."""
    database = tmp_path_factory.mktemp("browser") / "demo.sqlite"
    argv = ["demo", "--db", str(database), "--accounts", "40", "--commands", "1500"]
    assert main([*argv, "--workers", "2"]) == 0
    with served_process(["-m", "tests.console_server", str(database), str(free_port())]) as url:
        with httpx.Client(base_url=url, timeout=30) as http:
            caught_up(http, seconds=120)
        yield url, database


@pytest.fixture
def chromium() -> str:
    """Debian's Chromium, which ``.ci/ensure-services.sh`` installs when it is missing."""
    assert Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM}: run .ci/ensure-services.sh"
    return CHROMIUM


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_FLAGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser, tmp_path: Path) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    opened = await context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(str(error)))
    opened.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    try:
        yield opened
    finally:
        await context.close()
    assert problems == [], f"the page reported errors: {problems}"


async def screenshot(page: Page, name: str, tmp_path: Path) -> None:
    folder = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    shot = folder / f"{name}.png"
    await page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank one


async def test_the_overview_loads_and_a_stream_opens_from_a_search(
    page: Page, served: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = served
    await page.goto(f"{url}/console/")
    await expect(page.locator("h1")).to_have_text("Overview")
    rows = page.locator("#projections tbody tr")
    await expect(rows).to_have_count(3)
    await expect(page.locator('tr[data-projection="slow_audit"] .state')).to_have_text("live")
    await screenshot(page, "overview", tmp_path)

    await page.fill("header input[name=q]", "00007")
    await page.press("header input[name=q]", "Enter")
    await expect(page.locator("h1")).to_have_text("Streams")
    await page.click("a.stream >> text=account-00007")
    await expect(page.locator("h1")).to_have_text("Stream account-00007")
    first = page.locator("li.event").first
    await expect(first.locator(".type")).to_have_text("AccountOpened")
    await expect(first.locator("pre.data")).to_contain_text('"owner"')
    await screenshot(page, "stream", tmp_path)


async def test_correlation_and_causation_links_lead_both_ways(
    page: Page, served: tuple[str, Path]
) -> None:
    url, database = served
    async with httpx.AsyncClient(base_url=url) as http:
        feed = await http.get("/feed", params={"type": "TransferSent", "limit": 1})
        sent = feed.json()["events"][0]
        effect = f"account-caused{uuid.uuid4().hex[:6]}"
        await open_account(database, effect, "eve", causation_id=sent["event_id"])
        await caught_up_async(http)
    await page.goto(f"{url}/console/streams/{sent['stream_id']}#v{sent['version']}")
    event = page.locator(f"li#v{sent['version']}")
    await event.locator("a.correlation").click()
    await expect(page.locator("h1")).to_contain_text("Correlation")
    await expect(page.locator("table.links tbody tr")).to_have_count(2)
    await expect(page.locator("table.links")).to_contain_text("TransferReceived")

    await page.goto(f"{url}/console/streams/{sent['stream_id']}#v{sent['version']}")
    await event.locator("a.effect").click()
    await expect(page.locator("h1")).to_have_text(f"Stream {effect}")
    await page.locator("a.cause").click()
    await expect(page.locator("h1")).to_have_text(f"Event {sent['event_id']}")
    await page.locator(".facts a.stream").click()
    await expect(page.locator("h1")).to_have_text(f"Stream {sent['stream_id']}")


async def test_a_new_event_appears_in_the_live_feed_without_a_reload(
    page: Page, served: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = served
    await page.goto(f"{url}/console/feed")
    await expect(page.locator("#feed-state")).to_have_text("live")
    await page.evaluate("window.sameDocument = true")
    account = f"live{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=url) as http:
        body = {"account_id": account, "owner": "liv"}
        opened = await http.post("/commands/open_account", json=body)
        assert opened.status_code == 200, opened.text
        deposit = {"account_id": account, "amount": 7}
        (await http.post("/commands/deposit", json=deposit)).raise_for_status()
    rows = page.locator("#feed tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.first.locator(".type")).to_have_text("MoneyDeposited")
    await expect(rows.nth(1)).to_contain_text(f"account-{account} v1")
    assert await page.evaluate("window.sameDocument") is True
    await screenshot(page, "live-feed", tmp_path)
    await rows.first.locator("a.stream").click()
    await expect(page.locator("h1")).to_have_text(f"Stream account-{account}")


async def test_a_rebuild_asks_for_confirmation_and_shows_its_progress(
    page: Page, served: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = served
    await page.goto(f"{url}/console/")
    row = page.locator('tr[data-projection="slow_audit"]')
    await expect(row.locator(".state")).to_have_text("live")
    await expect(row.locator("button.reset")).to_be_disabled()  # a process runs it

    asked: list[str] = []

    async def decline(dialog: Dialog) -> None:
        asked.append(dialog.message)
        await dialog.dismiss()

    page.once("dialog", decline)
    await row.locator("button.rebuild").click()
    await expect(row.locator(".outcome")).to_have_text("")
    assert asked == ["Rebuild slow_audit from the start of the feed?"]

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.once("dialog", accept)
    await row.locator("button.rebuild").click()
    seen: list[tuple[str, float]] = []
    deadline = time.monotonic() + 120
    while True:
        outcome = await row.locator(".outcome").text_content() or ""
        bar = float(await row.locator("progress").get_attribute("value") or 0)
        seen.append((outcome, bar))
        if outcome == "rebuilt":
            break
        if len(seen) == 20:
            await screenshot(page, "rebuild", tmp_path)
        assert time.monotonic() < deadline, seen[-5:]
        await page.wait_for_timeout(50)
    partway = [
        (int(m[1]), int(m[2]), bar)
        for text, bar in seen
        if (m := re.fullmatch(r"rebuilding: (\d+) of (\d+) events", text))
    ]
    assert any(0 < done < total and 0 < bar < 1 for done, total, bar in partway), seen
    await expect(row.locator("progress")).to_have_attribute("value", "1")
    await expect(row.locator(".state")).to_have_text("live")
