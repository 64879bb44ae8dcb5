"""The registrar's and the owner's pages in a real browser (issue 20): the lists of the register
(the queue, the classified records by outcome, the ones owners deleted, the disposed ones; a
refused filter), the classify flow with the keyboard only, the record's trail in words, the
owner's inbox; axe-core finds no WCAG 2.1 A/AA violation on any of them; screenshots under
tests/web/screenshots/. SQLite only (the `storage` fixture of test_browser)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from test_browser import (  # noqa: F401  (fixtures)
    browser,
    login,
    server,
    shot_and_axe,
    storage,
)
from webkit import OWNER, ROLE_USERS, put_message

from switchboard.web import WebServices
from switchboard.web.auth import Role
from voicemail.intake import SpoolIntake
from voicemail.models import Classification, RecordStatus

async_api = pytest.importorskip("playwright.async_api", reason="pip install playwright")
axe_api = pytest.importorskip(
    "axe_playwright_python.async_playwright", reason="pip install axe-playwright-python"
)
REGISTRAR = ROLE_USERS[Role.REGISTRAR]


async def fill_register(services: WebServices) -> None:
    """Twelve more messages for Bertil Berg's mailbox over three days; three of them classified
    (one registered in a case), one deleted by Anna, one disposed."""
    reg, spool = services.register, services.spool
    assert reg is not None and spool is not None
    base = int((services.now() - timedelta(days=3)).timestamp())
    for n in range(12):
        caller = f'"Uppringare {n:02d}" <070111{n:04d}>' if n % 4 else "<0268301 5>"
        put_message(spool, "83013", 10 + n, base + 5400 * n, caller)
    await SpoolIntake(reg, spool).run_once(services.now())
    now = services.now()
    queue = [i.record for i in await reg.queue(now, limit=None)]
    await reg.classify(
        queue[0].id, Classification.PUBLIC_REGISTERED, REGISTRAR, now, "Bygglov", "KS 2026/123"
    )
    await reg.classify(queue[1].id, Classification.PUBLIC_MINOR, REGISTRAR, now, "Fråga om taxa")
    await reg.classify(queue[2].id, Classification.NOT_PUBLIC_PRIVATE, REGISTRAR, now, "Privat")
    await reg.store.update_record(
        queue[2].id,
        {"status": RecordStatus.DISPOSED, "disposed_at": now, "disposal_rule": "privat-30-dagar"},
        "system:disposal",
        "record.disposed",
        now,
    )
    annas = [r for r in queue if r.owner_id == OWNER]
    await reg.hide(annas[0].id, OWNER, now)


async def test_the_registrars_lists_have_no_wcag_violation(
    server: TestServer,  # noqa: F811
    browser: Any,  # noqa: F811
    services: WebServices,
) -> None:
    """Each list, a filtered and a refused one, and a phone-sized queue: 0 violations."""
    await fill_register(services)
    base = str(server.make_url("")).rstrip("/")
    page = await login(browser, base, REGISTRAR)
    await page.goto("/registrator")
    await async_api.expect(page.locator("#queue-summary")).to_have_text(
        "11 meddelanden väntar på klassificering."
    )
    await shot_and_axe(page, "registrator-lista-ko")
    await page.goto("/registrator?view=classified")
    await async_api.expect(page.locator("#queue")).to_contain_text(
        "Allmän handling, diarieförd i ärende KS 2026/123"
    )
    await shot_and_axe(page, "registrator-lista-klassificerade")
    await page.goto("/registrator?view=classified&outcome=public_minor_importance&sort=newest")
    await async_api.expect(page.locator("#queue tbody tr")).to_have_count(1)
    await page.goto("/registrator?view=hidden")
    await async_api.expect(page.locator("#queue-summary")).to_have_text(
        "1 meddelande som ägaren har raderat."
    )
    await shot_and_axe(page, "registrator-lista-raderade")
    await page.goto("/registrator?view=disposed")
    await async_api.expect(page.locator("#queue")).to_contain_text("Gallrad (ljudet är förstört)")
    await shot_and_axe(page, "registrator-lista-gallrade")
    await page.goto("/registrator?view=all&from=2026-11-30&q=x")
    await async_api.expect(page.locator("#queue-summary")).to_contain_text("0 träffar")
    await shot_and_axe(page, "registrator-lista-tom")
    await page.goto("/registrator?view=all&from=24%2F11")
    await async_api.expect(page.locator("#from")).to_have_attribute("aria-invalid", "true")
    await async_api.expect(page.locator("#from")).to_have_value("")  # a date field drops "24/11"
    await shot_and_axe(page, "registrator-lista-fel-i-filter")
    phone = await login(browser, base, REGISTRAR, viewport={"width": 390, "height": 844})
    await phone.goto("/registrator?view=all")
    await shot_and_axe(phone, "registrator-lista-mobil")


async def test_classify_with_the_keyboard_only_then_on_to_the_next(
    server: TestServer,  # noqa: F811
    browser: Any,  # noqa: F811
    services: WebServices,
) -> None:
    """From the queue to a record, classified as registered in a case, on to the next in the
    queue, and to the list of classified records: Tab, arrows, typing and Enter only. The
    trail says what the record became, by whom and when."""
    base = str(server.make_url("")).rstrip("/")
    page = await login(browser, base, REGISTRAR)
    await page.goto("/registrator")
    first = page.locator("#queue tbody tr a").first
    number = await first.inner_text()
    await page.locator("#q").focus()  # the search field, then Tab on until the first record
    for _ in range(6):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.textContent") == number:
            break
    assert await page.evaluate("document.activeElement.textContent") == number
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{base}/registrator/*")
    await page.locator("#classification").focus()
    while await page.locator("#classification").input_value() != "public_registered":
        await page.keyboard.press("ArrowUp")
    await page.keyboard.press("Tab")
    await page.keyboard.type("Fråga om bygglov, Skolgatan 3")
    await page.keyboard.press("Tab")
    await page.keyboard.type("KS 2026/123")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("text=Klassificeringen är sparad.")
    trail = page.locator("#audit")
    await async_api.expect(trail).to_contain_text(
        "Klassificerad som allmän handling, diarieförd i ärende KS 2026/123 av Johanna Jansson"
        " 2026-11-24 10.15"
    )
    await async_api.expect(page.locator("#outcome")).to_contain_text("av Johanna Jansson")
    await shot_and_axe(page, "registrator-meddelande-sparat")
    link = page.get_by_role("link", name="Nästa meddelande i kön")
    await link.focus()
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#classification")
    assert number not in await page.locator("h1").inner_text()
    await page.goto("/registrator")
    await page.locator("#view").focus()
    await page.keyboard.press("ArrowDown")  # Väntar → Klassificerade
    await page.locator("#q").focus()
    await page.keyboard.press("Enter")  # submits the filter form
    await page.wait_for_url(f"{base}/registrator?view=classified*")
    await async_api.expect(page.locator("#queue-summary")).to_have_text(
        "1 klassificerat meddelande."
    )
    await async_api.expect(page.locator("#queue")).to_contain_text(number)


async def test_the_owners_inbox_has_no_wcag_violation(
    server: TestServer,  # noqa: F811
    browser: Any,  # noqa: F811
    services: WebServices,
) -> None:
    """Anna's messages by caller name and national number, marked heard from the page."""
    base = str(server.make_url("")).rstrip("/")
    page = await login(browser, base, OWNER)
    await page.get_by_role("link", name="Mina röstmeddelanden").click()
    await async_api.expect(page.locator("#inbox")).to_contain_text("070-123 45 67")
    await shot_and_axe(page, "rostmeddelanden")
    await page.get_by_role("button", name="Markera meddelandet från Örjan Öst").click()
    await page.wait_for_selector("text=Meddelandet är markerat som hört.")
    await async_api.expect(page.locator("#inbox")).to_contain_text("Hörd")
    await shot_and_axe(page, "rostmeddelanden-hord")
