"""The sign-in page, IT's call log, my calls, today's service level and the manager's overview
in a real browser (issue 20): flagging a call keeps the filter and marks the call; a refused
report keeps the text and marks the field; a wrong password keeps the user id; the manager's
unused numbers a page at a time; axe-core finds no WCAG 2.1 A/AA violation on any of them.
Screenshots under tests/web/screenshots/. SQLite only (the `storage` fixture of test_browser)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from test_browser import (  # noqa: F401  (fixtures)
    axe_clean,
    browser,
    login,
    server,
    shot,
    storage,
)
from webkit import OWNER, ROLE_USERS

from switchboard.web.auth import Role
from switchboard.web.features.reports import pages as report_pages

async_api = pytest.importorskip("playwright.async_api", reason="pip install playwright")
axe_api = pytest.importorskip(
    "axe_playwright_python.async_playwright", reason="pip install axe-playwright-python"
)


def base_of(srv: TestServer) -> str:
    return str(srv.make_url("")).rstrip("/")


async def test_alv18_alv20_it_flags_a_call_and_the_filter_stays(
    server: TestServer,  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    """ALV-18/ALV-20: IT filters on Anna's mobile, flags the call with the keyboard; back on
    the same filter, the call is marked 'Flaggat' and named in the incidents."""
    base = base_of(server)
    page = await login(browser, base, ROLE_USERS[Role.IT])
    await page.goto("/it")
    await page.set_viewport_size({"width": 1400, "height": 900})
    await page.screenshot(path=shot("it-samtalslogg"), full_page=True)
    await axe_clean(page)
    await page.get_by_label("Nummer").fill("070-123 45 67")
    await page.get_by_role("button", name="Visa").click()
    await page.wait_for_url("**/it?*number=*")
    rows = page.locator("#calls tbody tr")
    assert await rows.count() == 1
    note = page.locator("#calls").get_by_label("Beskrivning av hotet")
    await note.focus()
    await page.keyboard.type("Hotade att komma hit")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#calls tr.flagged")
    assert await page.get_by_label("Nummer").input_value() == "070-123 45 67"
    assert "Flaggat:" in await page.locator("#calls tr.flagged").inner_text()
    incidents = await page.locator("#incidents").inner_text()
    assert "Anna Andersson, 070-123 45 67" in incidents and "Ivar" in incidents
    await page.screenshot(path=shot("it-flaggat"), full_page=True)
    await axe_clean(page)


async def test_alv20_a_refused_report_on_my_calls_keeps_the_text(
    server: TestServer,  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    """ALV-20: Anna reports a call with only spaces: the page again, the field marked and
    described, the typed text kept; axe finds nothing."""
    page = await login(browser, base_of(server), OWNER)
    await page.goto("/mina-samtal")
    await page.screenshot(path=shot("mina-samtal"), full_page=True)
    await axe_clean(page)
    field = page.locator("#my-calls input[name=note]").first
    await field.fill("   ")
    await page.locator("#my-calls button").first.click()
    await page.wait_for_selector("[aria-invalid=true]")
    assert "Beskriv hotet" in await page.locator("[role=alert]").first.inner_text()
    await page.screenshot(path=shot("mina-samtal-fel"), full_page=True)
    await axe_clean(page)


async def test_hal03_alv25_hal14_the_reports_pages(
    server: TestServer,  # noqa: F811
    browser: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HAL-03: today's service level; ALV-25/HAL-14: the manager's overview, its unused
    numbers three a page (for the test) with links to the next and the previous page."""
    monkeypatch.setattr(report_pages, "PAGE_SIZE", 3)
    page = await login(browser, base_of(server), ROLE_USERS[Role.ADMIN])
    await page.goto("/rapporter")
    await page.screenshot(path=shot("servicenivå"), full_page=True)
    await axe_clean(page)
    await page.goto("/chef")
    assert await page.locator("#unused tbody tr").count() == 3
    await page.screenshot(path=shot("chefens-oversikt"), full_page=True)
    await axe_clean(page)
    await page.get_by_role("link", name="Nästa sida").click()
    await page.wait_for_url("**/chef?page=2*")
    assert await page.get_by_role("link", name="Föregående sida").count() == 1
    await axe_clean(page)


async def test_a_wrong_password_keeps_the_user_id(
    server: TestServer,  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    """The sign-in page: no menu; a wrong password says what to do, keeps the user id and
    marks both fields."""
    ctx = await browser.new_context(base_url=base_of(server), locale="sv-SE")
    page = await ctx.new_page()
    await page.goto("/login")
    assert await page.locator("nav a").count() == 0
    await page.get_by_label("Användar-id").fill(OWNER)
    await page.get_by_label("Lösenord").fill("inte-rätt")
    await page.get_by_role("button", name="Logga in").click()
    await page.wait_for_selector("[aria-invalid=true]")
    assert await page.get_by_label("Användar-id").input_value() == OWNER
    await page.screenshot(path=shot("logga-in-fel"), full_page=True)
    await axe_clean(page)
