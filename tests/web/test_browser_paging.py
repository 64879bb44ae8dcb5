"""The lists paged in issue 20 in a real browser, at a municipality's size: the administrator's
greetings (3,000 users) searched and turned to page 2, and Anna's 62 voicemail messages on
page 2, one marked heard there; axe-core finds no WCAG 2.1 A/AA violation on any of them.
Screenshots in tests/web/screenshots/halsningsfraser-*.png and rostmeddelanden-sida-2*.png.
SQLite only (the `storage` fixture of test_browser)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from test_browser import (  # noqa: F401  (fixtures)
    async_api,
    browser,
    login,
    server,
    shot_and_axe,
    storage,
)
from webkit import OWNER, ROLE_USERS, put_message

from routing.models import Directory, User
from switchboard.config import Config
from switchboard.web import WebServices
from switchboard.web.auth import Role
from voicemail.intake import SpoolIntake

pytestmark = pytest.mark.usefixtures("storage")
UNITS = ("Kultur", "Skola", "Omsorg")
PEOPLE = 3000
MESSAGES = 60


@pytest.fixture
def config(config: Config) -> Config:
    """The sample with 3,000 more people with a mailbox: Person 0000 … 2999 in three units."""
    old = config.org.directory
    people = tuple(
        User(
            f"p{i:04d}", f"Person {i:04d}", None, f"+4673{i:07d}", unit=UNITS[i % 3], voicemail=True
        )
        for i in range(PEOPLE)
    )
    directory = Directory.build(
        (*old.users, *people), old.groups, old.shared_phones, old.switchboard, old.plan
    )
    return replace(config, org=replace(config.org, directory=directory))


async def test_the_greetings_searched_and_on_page_2_have_no_wcag_violation(
    server: TestServer,  # noqa: F811  (the fixture imported above)
    browser: Any,  # noqa: F811
) -> None:
    """Search "Skola" (1,000 of them), turn to page 2 with the pager: the count, the search
    kept, the current page marked."""
    base = str(server.make_url("")).rstrip("/")
    page = await login(browser, base, ROLE_USERS[Role.ADMIN])
    await page.goto("/admin/halsningsfraser")
    await page.get_by_label("Sök på namn, enhet eller användar-id").fill("Skola")
    await page.get_by_role("button", name="Sök", exact=True).click()
    await async_api.expect(page.locator("#antal")).to_contain_text(
        "Visar 1–50 av 1\u00a0000 som matchar ”Skola”"
    )
    await shot_and_axe(page, "halsningsfraser-sok")
    await page.get_by_role("link", name="Nästa sida").click()
    await page.wait_for_url("**/admin/halsningsfraser?q=Skola&sida=2")
    await async_api.expect(page.locator("#antal")).to_contain_text("Visar 51–100 av 1\u00a0000")
    await async_api.expect(page.locator("#greetings")).to_contain_text("Person 0151")
    current = page.locator('nav.pager a[aria-current="page"]')
    await async_api.expect(current).to_have_text("2")
    await shot_and_axe(page, "halsningsfraser-sok-sida-2")


async def test_my_messages_on_page_2_have_no_wcag_violation(
    server: TestServer,  # noqa: F811
    browser: Any,  # noqa: F811
    services: WebServices,
) -> None:
    """62 messages: page 2 shows the 51st to the 62nd; marking one heard there stays there."""
    reg, spool = services.register, services.spool
    assert reg is not None and spool is not None
    base_time = int((services.now() - timedelta(days=5)).timestamp())
    for n in range(MESSAGES):
        put_message(
            spool, "83012", 10 + n, base_time + 600 * n, f'"Uppringare {n:02d}" <070111{n:04d}>'
        )
    await SpoolIntake(reg, spool).run_once(services.now())
    base = str(server.make_url("")).rstrip("/")
    page = await login(browser, base, OWNER)
    await page.get_by_role("link", name="Mina röstmeddelanden").click()
    await async_api.expect(page.locator("#antal")).to_contain_text("Visar 1–50 av 62")
    await page.get_by_role("link", name="Nästa sida").click()
    await page.wait_for_url("**/rostmeddelanden?sida=2")
    await async_api.expect(page.locator("#antal")).to_contain_text("Visar 51–62 av 62")
    await async_api.expect(page.locator("#inbox tbody tr")).to_have_count(12)
    await shot_and_axe(page, "rostmeddelanden-sida-2")
    await page.get_by_role("button", name="Markera meddelandet från").first.click()
    await page.wait_for_selector("text=Meddelandet är markerat som hört.")
    assert "sida=2" in page.url
    await async_api.expect(page.locator("#antal")).to_contain_text("Visar 51–62 av 62")
    await shot_and_axe(page, "rostmeddelanden-sida-2-hord")
