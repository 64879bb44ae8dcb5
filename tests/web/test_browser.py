"""Real-browser tests: Debian's chromium driven by Playwright against the app on 127.0.0.1.

SQLite only (the `storage` fixture below): a browser run takes seconds, and the stores behind
the same pages run on both engines in test_api.py.
"""

from __future__ import annotations

import os
import re
import shutil
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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


# Accessibility is law (lag 2018:1937, EN 301 549 = WCAG 2.1 AA): axe-core on every page each
# role can reach, in Debian's chromium, with 0 violations at levels A and AA (issue 20).
# Each role signs in and follows every link of its pages (same origin, not the API, not sign-out),
# breadth first and bounded; axe-core (shipped by axe-playwright-python) checks each page as the
# browser rendered it, with the WCAG 2.0/2.1 A and AA rules only.

axe_api = pytest.importorskip(
    "axe_playwright_python.async_playwright", reason="pip install axe-playwright-python"
)

WCAG_A_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
MAX_PAGES = 40
SKIP_PREFIXES = ("/api/", "/logout", "/metrics", "/healthz", "/static/")


def _violations(result: Any) -> list[str]:
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result.response["violations"]
    ]


async def axe_violations(page: Any) -> list[str]:
    """axe-core's WCAG 2.1 A/AA violations on the page as rendered, one line each."""
    return _violations(await axe_api.Axe().run(page, options=WCAG_A_AA))


async def axe_clean(page: Any) -> None:
    """0 WCAG 2.1 A/AA violations on the page as rendered."""
    assert await axe_violations(page) == []


async def shot_and_axe(page: Any, name: str) -> None:
    """A screenshot, then axe-core: no WCAG 2.1 A/AA violation."""
    await page.screenshot(path=shot(name), full_page=True)
    found = await axe_violations(page)
    assert found == [], (name, found)


async def _crawl(page: Any, base: str) -> dict[str, list[str]]:
    """path → violations, for every page reachable from the start page."""
    axe = axe_api.Axe()
    seen: set[str] = set()
    todo = deque(["/"])
    found: dict[str, list[str]] = {}
    while todo and len(seen) < MAX_PAGES:
        path = todo.popleft()
        if path in seen:
            continue
        seen.add(path)
        response = await page.goto(base + path)
        if (
            response is None
            or not response.ok
            or "text/html" not in response.headers.get("content-type", "")
        ):
            continue
        found[path] = _violations(await axe.run(page, options=WCAG_A_AA))
        for href in await page.eval_on_selector_all(
            "a[href]", "els => els.map(e => e.getAttribute('href'))"
        ):
            parts = urlsplit(href)
            if (
                parts.netloc
                or not parts.path.startswith("/")
                or parts.path.startswith(SKIP_PREFIXES)
            ):
                continue
            if (
                parts.path.endswith(("/audio", ".csv", ".xlsx", ".json", ".png", ".wav"))
                or "export" in parts.path
            ):
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if target not in seen:
                todo.append(target)
    return found


@pytest.mark.parametrize("role", list(ROLE_USERS))
async def test_every_page_of_every_role_has_no_wcag_a_or_aa_violation(
    server: TestServer,
    browser: Any,
    role: Role,
) -> None:
    """axe-core: 0 violations at WCAG 2.1 A and AA on every page the role reaches."""
    base = str(server.make_url("")).rstrip("/")
    page = await login(browser, base, ROLE_USERS[role])
    found = await _crawl(page, base)
    assert len(found) >= 2, found  # the start page and at least one more
    wrong = {path: v for path, v in found.items() if v}
    assert not wrong, "\n".join(f"{p}: {v}" for p, v in wrong.items())


async def test_the_sign_in_page_has_no_wcag_a_or_aa_violation(
    server: TestServer, browser: Any
) -> None:
    """The page everyone meets first."""
    base = str(server.make_url("")).rstrip("/")
    ctx = await browser.new_context(base_url=base, locale="sv-SE")
    page = await ctx.new_page()
    await page.goto("/login")
    await axe_clean(page)


async def test_the_check_finds_a_violation_when_there_is_one(browser: Any) -> None:
    """The check itself: an image without text and an unlabelled field are reported."""
    ctx = await browser.new_context(locale="sv-SE")
    page = await ctx.new_page()
    await page.set_content(
        '<html lang="sv"><head><title>t</title></head><body><main>'
        '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><input type="text"></main></body></html>'
    )
    found = " ".join(await axe_violations(page))
    assert "image-alt" in found and "label" in found


async def test_a_form_with_an_error_has_no_wcag_a_or_aa_violation(
    server: TestServer, browser: Any
) -> None:
    """The registrar's classify form after a refused save (the error is announced and tied to
    its field), reached with the keyboard only: Tab to each control, Enter to save."""
    base = str(server.make_url("")).rstrip("/")
    page = await login(browser, base, ROLE_USERS[Role.REGISTRAR])
    await page.goto("/registrator/1")
    await page.get_by_label("Klassificering").focus()
    await page.keyboard.press("Tab")  # keyboard only from here: the select is chosen by value
    await page.get_by_label("Klassificering").select_option("public_registered")
    await page.get_by_label("Kort sammanfattning").focus()
    await page.keyboard.type("Bygglov, Storgatan 3")
    await page.get_by_role("button", name="Spara klassificering").focus()
    await page.keyboard.press("Enter")
    await page.wait_for_selector("[aria-invalid=true]")
    assert await page.get_by_label("Kort sammanfattning").input_value() == "Bygglov, Storgatan 3"
    await page.screenshot(path=shot("registrator-fel-i-formular"), full_page=True)
    await axe_clean(page)
