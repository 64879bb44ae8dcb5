"""Real-browser tests: Debian's chromium driven by Playwright against the app on 127.0.0.1.

SQLite only (the `storage` fixture below): a browser run takes seconds, and the stores behind
the same pages run on both engines in test_api.py.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from storekit import Storage, make_storage
from webkit import OWNER, PASSWORD, ROLE_USERS

from switchboard.web import WebServices, setup_web
from switchboard.web.auth import Role

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]

pytestmark = [
    pytest.mark.skipif(
        shutil.which(CHROMIUM) is None, reason=f"{CHROMIUM} missing: apt-get install -y chromium"
    ),
]
async_api = pytest.importorskip("playwright.async_api", reason="pip install playwright")


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    """SQLite files only here, to keep the run short (see the module docstring)."""
    return make_storage("sqlite", tmp_path / "vm")


@pytest.fixture
async def server(services: WebServices) -> AsyncIterator[TestServer]:
    """The app on a real socket on 127.0.0.1."""
    app = web.Application()
    setup_web(app, services)
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    try:
        yield srv
    finally:
        await srv.close()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Headless Debian chromium, on the machine's own clock: the browser is a person's computer,
    not the server, so under scripts/test-dates.sh libfaketime is not handed on to it (Chromium
    under libfaketime takes minutes to start)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAKETIME", "LD_PRELOAD"))}
    async with async_api.async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS, env=env)
        try:
            yield b
        finally:
            await b.close()


async def login(browser: Any, base: str, user: str, **context: Any) -> Any:
    """A new browser context signed in through the login form; returns its page."""
    ctx = await browser.new_context(base_url=base, locale="sv-SE", **context)
    page = await ctx.new_page()
    await page.goto("/login")
    await page.get_by_label("Användar-id").fill(user)
    await page.get_by_label("Lösenord").fill(PASSWORD)
    await page.get_by_role("button", name="Logga in").click()
    await page.wait_for_url(base + "/")
    return page


def shot(name: str) -> str:
    """Where a screenshot goes (git-ignored)."""
    SHOTS.mkdir(exist_ok=True)
    return str(SHOTS / f"{name}.png")


async def test_registrar_plays_classifies_and_sees_audit(server: TestServer, browser: Any) -> None:
    """Log in as registrar, play a message in the page, classify it, see both in the audit trail."""
    base = str(server.make_url("")).rstrip("/")
    page = await login(browser, base, ROLE_USERS[Role.REGISTRAR])
    await page.get_by_role("link", name="Registrator").click()
    await page.wait_for_selector("#queue tbody tr")
    await page.screenshot(path=shot("registrator-ko"), full_page=True)
    await page.locator("#queue tbody tr a").first.click()
    async with page.expect_response(lambda r: r.url.endswith("/audio")) as audio:
        await page.evaluate("document.getElementById('player').play().catch(function(){})")
    assert (await audio.value).status in (200, 206)
    await page.get_by_label("Klassificering").select_option("public_minor_importance")
    await page.get_by_label("Kort sammanfattning").fill("Fråga om bygglov på Skutskärsvägen")
    await page.get_by_role("button", name="Spara klassificering").click()
    await page.wait_for_selector("text=Klassificeringen är sparad.")
    audit = page.locator("#audit")
    await async_api.expect(audit).to_contain_text("Uppspelad")
    await async_api.expect(audit).to_contain_text("Klassificerad")
    await async_api.expect(page.locator("#status")).to_have_text("Klassificerad")
    await page.screenshot(path=shot("registrator-meddelande"), full_page=True)


async def test_manual_redirect_updates_board_live(server: TestServer, browser: Any) -> None:
    """Set a manual redirect in one page; the board in another updates without a reload."""
    base = str(server.make_url("")).rstrip("/")
    board = await login(browser, base, ROLE_USERS[Role.STAFF])
    await board.wait_for_function("document.body.dataset.live === '1'")
    await board.screenshot(path=shot("tavlan"), full_page=True)
    row = board.locator(f'[id="u-{OWNER}"]')
    await async_api.expect(row).not_to_contain_text("Semester")
    board_url = board.url

    mine = await login(browser, base, OWNER)
    await mine.get_by_role("link", name="Min tillgänglighet").click()
    await mine.screenshot(path=shot("min-tillganglighet"), full_page=True)
    await mine.get_by_label("Orsak").select_option("vacation")
    await mine.get_by_label("Åter (sluttid)").fill("2026-11-30T08:00")
    await mine.get_by_role("button", name="Spara hänvisning").click()
    await mine.wait_for_selector("text=Hänvisningen är sparad.")
    await async_api.expect(mine.locator("#caller-hears")).to_contain_text("är på semester")

    await async_api.expect(row).to_contain_text("Semester", timeout=5000)
    await async_api.expect(row.locator(".badge")).to_have_text("Hänvisad")
    assert board.url == board_url  # no reload happened
    await board.screenshot(path=shot("tavlan-uppdaterad"), full_page=True)

    phone = await login(
        browser, base, ROLE_USERS[Role.STAFF], viewport={"width": 390, "height": 844}
    )
    await phone.screenshot(path=shot("tavlan-mobil"), full_page=True)


async def test_admin_and_it_pages(server: TestServer, browser: Any) -> None:
    """Administrator switches voicemail off for everyone; IT flags a call as a threat."""
    base = str(server.make_url("")).rstrip("/")
    admin = await login(browser, base, ROLE_USERS[Role.ADMIN])
    await admin.get_by_role("link", name="Administration").click()
    await admin.get_by_role("button", name="Stäng av för alla …").click()
    await admin.wait_for_selector("text=Vill du stänga av röstbrevlådan för alla?")
    await admin.screenshot(path=shot("admin-bekrafta"), full_page=True)
    await admin.get_by_role("button", name=re.compile(r"^Ja, stänga av för alla \d+$")).click()
    await admin.wait_for_selector("text=Röstbrevlådan är avstängd.")
    await admin.screenshot(path=shot("admin"), full_page=True)

    it = await login(browser, base, ROLE_USERS[Role.IT])
    await it.get_by_role("link", name="Samtalslogg").click()
    first = it.locator("#calls tbody tr").first
    await first.get_by_placeholder("Beskriv hotet").fill("Uttalade hot mot handläggaren")
    await first.get_by_role("button", name="Flagga som hot").click()
    await it.wait_for_selector("text=Incident ALV-HOT-2026-0001 är registrerad.")
    await async_api.expect(it.locator("#incidents")).to_contain_text("Uttalade hot")
    await it.screenshot(path=shot("it"), full_page=True)

    login_ctx = await browser.new_context(base_url=base)
    login_page = await login_ctx.new_page()
    await login_page.goto("/login")
    await login_page.screenshot(path=shot("logga-in"))
