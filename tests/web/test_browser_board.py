"""Issue 20 in a real browser: the board (search, units, where calls go, the polite live
announcement) and the staff redirect form by keyboard only (Tab, arrow keys, typing, Enter;
no mouse), its refused save keeping what was typed and marking the field; a manager's form for
a colleague (ALV-02). axe-core: 0 WCAG 2.1 A/AA violations on each; screenshots in
tests/web/screenshots/.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from test_browser import (  # noqa: F401  (fixtures)
    async_api,
    axe_clean,
    browser,
    login,
    server,
    shot,
    storage,
)
from webkit import OWNER, ROLE_USERS, password_hash

from switchboard.web import WebServices
from switchboard.web.auth import Account, Accounts, Role

MANAGER = "cecilia.carlsson"


@pytest.fixture
async def services(services: WebServices) -> WebServices:
    """The shared services, with the manager able to sign in (staff, not administrator)."""
    accounts = [services.accounts.get(uid) for uid in (*ROLE_USERS.values(), OWNER)]
    extra = Account(MANAGER, frozenset({Role.STAFF}), password_hash())
    services.accounts = Accounts.of([a for a in accounts if a is not None] + [extra])
    return services


async def tab_to(page: Any, element_id: str, limit: int = 60) -> None:
    """Press Tab until the element has focus (keyboard only)."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
    raise AssertionError(f"Tab never reached #{element_id}")


async def type_end(page: Any, value: str) -> None:
    """Type a date and time into the focused datetime-local field, key by key. Debian's headless
    chromium lays the field out as mm/dd/yyyy hh:mm AM/PM whatever the page's language; the
    year takes up to six digits, so the arrow key moves on from it."""
    day, clock = value.split("T")
    year, month, date = day.split("-")
    hour, minute = clock.split(":")
    half = "P" if int(hour) >= 12 else "A"
    hour12 = f"{(int(hour) - 1) % 12 + 1:02d}"
    for part in (month, date, year):
        await page.keyboard.type(part)
    await page.keyboard.press("ArrowRight")
    for part in (hour12, minute, half):
        await page.keyboard.type(part)
    assert await page.evaluate("document.activeElement.value") == value


async def test_staff_redirect_form_by_keyboard_only_with_a_refused_save(
    server: TestServer,  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    """Tab to each control, choose with the arrow keys, type, Enter: an end in the past is
    refused, the typed values stay, the field is marked; then a good end saves."""
    base = str(server.make_url("")).rstrip("/")
    page = await login(browser, base, OWNER)
    await page.goto(base + "/min-tillganglighet")
    await tab_to(page, "reason")
    await page.keyboard.press("ArrowDown")  # Möte → Lunch
    await page.keyboard.press("ArrowDown")  # → Semester
    await tab_to(page, "until")
    await type_end(page, "2026-11-23T08:00")  # yesterday to the server's clock: refused
    await tab_to(page, "text")
    await page.keyboard.type("Åter på måndag")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#until[aria-invalid=true]")
    assert await page.locator("#reason").input_value() == "vacation"
    assert await page.locator("#until").input_value() == "2026-11-23T08:00"
    assert await page.locator("#text").input_value() == "Åter på måndag"
    await async_api.expect(page.locator("#until-fel")).to_contain_text("framtiden")
    assert await page.locator("#until").get_attribute("aria-describedby") == "until-fel"
    await page.screenshot(path=shot("min-tillganglighet-fel"), full_page=True)
    await axe_clean(page)

    await tab_to(page, "until")
    await type_end(page, "2026-11-30T08:00")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("text=Hänvisningen är sparad.")
    await async_api.expect(page.locator("#caller-hears")).to_contain_text("semester")
    await page.screenshot(path=shot("min-tillganglighet-sparad"), full_page=True)
    await axe_clean(page)


async def test_board_announces_a_change_politely_and_shows_where_calls_go(
    server: TestServer,  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    """Anna redirects herself; the board (open elsewhere) updates her row without a reload and
    its polite live region says so in one Swedish sentence; her calls go to Bertil."""
    base = str(server.make_url("")).rstrip("/")
    board = await login(browser, base, ROLE_USERS[Role.STAFF])
    await board.wait_for_function("document.body.dataset.live === '1'")
    await axe_clean(board)
    mine = await login(browser, base, OWNER)
    await mine.goto(base + "/min-tillganglighet")
    await mine.get_by_label("Orsak").select_option("meeting")
    await mine.get_by_label("Åter (sluttid)").fill("2026-11-24T15:00")
    await mine.get_by_role("button", name="Spara hänvisning").click()
    await mine.wait_for_selector("text=Hänvisningen är sparad.")

    row = board.locator(f'[id="u-{OWNER}"]')
    await async_api.expect(row.locator(".badge")).to_have_text("Hänvisad", timeout=5000)
    await async_api.expect(row.locator(".goes-to")).to_have_text("Bertil Berg")
    await async_api.expect(row.locator(".call-now")).to_have_text("026-830 13")
    live = board.locator("#live")
    await async_api.expect(live).to_have_attribute("aria-live", "polite")
    await async_api.expect(live).to_have_text(
        "Anna Andersson är nu hänvisad till Bertil Berg till 15.00."
    )
    await board.screenshot(path=shot("tavlan-hanvisad"), full_page=True)
    await board.goto(base + "/?q=830+12")
    await async_api.expect(board.locator("#board tr[data-id]")).to_have_count(1)
    await board.screenshot(path=shot("tavlan-sok-nummer"), full_page=True)
    await board.goto(base + "/?enhet=Socialtj%C3%A4nst")
    await async_api.expect(board.locator("#others")).to_contain_text("Socialjouren")
    await board.screenshot(path=shot("tavlan-enhet"), full_page=True)
    await axe_clean(board)
    phone = await login(
        browser, base, ROLE_USERS[Role.STAFF], viewport={"width": 390, "height": 844}
    )
    await phone.screenshot(path=shot("tavlan-mobil-sida"), full_page=True)
    await axe_clean(phone)


async def test_a_manager_redirects_a_colleague_from_the_board(
    server: TestServer,  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    """ALV-02: the manager follows "Ändra hänvisning" on Anna's row, saves, and the board says
    who set it."""
    base = str(server.make_url("")).rstrip("/")
    page = await login(browser, base, MANAGER)
    await page.get_by_role("link", name="Ändra hänvisning för Anna Andersson").click()
    await page.wait_for_selector("text=Hänvisning för Anna Andersson")
    await page.get_by_label("Orsak").select_option("training")
    await page.get_by_label("Tills vidare").check()
    await page.get_by_role("button", name="Spara hänvisning för Anna Andersson").click()
    await page.wait_for_selector("text=Hänvisningen är sparad.")
    await async_api.expect(page.locator("#manual-now")).to_contain_text("Satt av Cecilia Carlsson")
    await page.screenshot(path=shot("hanvisning-for-kollega"), full_page=True)
    await axe_clean(page)
    await page.goto(base + "/")
    row = page.locator(f'[id="u-{OWNER}"]')
    await async_api.expect(row.locator(".set-by")).to_have_text("Satt av Cecilia Carlsson")
    await page.goto(base + "/min-tillganglighet")
    await async_api.expect(page.locator("#staff")).to_contain_text("Anna Andersson")
    await page.screenshot(path=shot("chefens-medarbetare"), full_page=True)
    await axe_clean(page)
