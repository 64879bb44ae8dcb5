"""The administrator's page in a real browser (issue 20): search, a bulk change confirmed,
the change in the history, a lost phone blocked (ALV-21, HAL-12); axe-core finds no WCAG 2.1
A/AA violation on any of these pages. Screenshots in tests/web/screenshots/admin-*.png."""

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
from webkit import ROLE_USERS

from switchboard.web.auth import Role

pytestmark = pytest.mark.usefixtures("storage")


async def test_admin_searches_changes_many_and_sees_the_history(
    server: TestServer,  # noqa: F811  (the fixture imported above)
    browser: Any,  # noqa: F811
) -> None:
    """Search "Social", tick both, switch "Mobilen följer kalendern" on after the confirmation;
    the history says who changed what, before -> after."""
    base = str(server.make_url("")).rstrip("/")
    page = await login(browser, base, ROLE_USERS[Role.ADMIN])
    await page.get_by_role("link", name="Administration").click()
    await page.get_by_label("Sök på namn, enhet, anknytning eller nummer").fill("Social")
    await page.get_by_role("button", name="Sök", exact=True).click()
    await async_api.expect(page.locator("#antal")).to_contain_text("Visar 1–2 av 2")
    await page.screenshot(path=shot("admin-sok"), full_page=True)
    await axe_clean(page)
    await page.get_by_role("button", name="Markera alla på sidan").click()
    assert await page.get_by_label("Välj David Dahl").is_checked()
    await page.get_by_role("button", name="Avmarkera alla på sidan").click()
    assert not await page.get_by_label("Välj Eva Ek").is_checked()
    await page.get_by_label("Välj David Dahl").check()
    await page.get_by_label("Välj Eva Ek").check()
    await page.get_by_label("Inställning").select_option("mobile_follows_calendar")
    await page.get_by_role("button", name="Fortsätt …").click()
    await page.wait_for_selector("text=för 2 användare?")
    await page.screenshot(path=shot("admin-flera-bekrafta"), full_page=True)
    await axe_clean(page)
    await page.get_by_role("button", name="Ja, ändra för 2 användare").click()
    await page.wait_for_selector("text=Mobilen följer kalendern är påslagen för 2 användare")
    history = page.locator("#andringar")
    await async_api.expect(history).to_contain_text("Mobilen följer kalendern: av → på")
    await async_api.expect(history).to_contain_text("Lena Lund")
    assert await page.get_by_label("Sök på namn, enhet, anknytning eller nummer").input_value() == (
        "Social"
    )
    await page.screenshot(path=shot("admin-historik"), full_page=True)
    await axe_clean(page)


async def test_admin_blocks_a_lost_phone_from_the_page(
    server: TestServer,  # noqa: F811  (the fixture imported above)
    browser: Any,  # noqa: F811
) -> None:
    """ALV-21/HAL-12: find the shared phone, "Spärra …", a note, confirm; it is listed as
    blocked, and the block can be lifted from the list."""
    base = str(server.make_url("")).rstrip("/")
    page = await login(browser, base, ROLE_USERS[Role.ADMIN])
    await page.goto(base + "/admin")
    await page.get_by_label("Namn, enhet eller nummer").fill("Hemtjänst Nord")
    await page.get_by_role("button", name="Sök telefon").click()
    await page.get_by_role("button", name="Spärra Hemtjänst Nord …").click()
    await page.wait_for_selector("text=Vill du spärra Hemtjänst Nord?")
    await page.get_by_label("Anteckning till Medborgarservice (frivillig)").fill(
        "Borttappad på bussen"
    )
    await page.screenshot(path=shot("admin-sparr-bekrafta"), full_page=True)
    await axe_clean(page)
    await page.get_by_role("button", name="Ja, spärra Hemtjänst Nord").click()
    await page.wait_for_selector("text=Hemtjänst Nord är spärrad.")
    blocked = page.locator("#sparrade")
    await async_api.expect(blocked).to_contain_text("Hemtjänst Nord")
    await async_api.expect(page.locator("#andringar")).to_contain_text("Spärrad: nej → ja")
    await page.screenshot(path=shot("admin-sparrad"), full_page=True)
    await axe_clean(page)
    await blocked.get_by_role("button", name="Häv spärren för Hemtjänst Nord …").click()
    await page.get_by_role("button", name="Ja, häv spärren").click()
    await page.wait_for_selector("text=Hemtjänst Nord är inte längre spärrad.")
