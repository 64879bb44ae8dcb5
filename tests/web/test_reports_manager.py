"""The manager's report at a municipality's size (issue 20): a day that is over is read from the
call log once, the others on every request, and the answers are the same as reading it all;
the page pages the unused subscriptions and shows numbers in national form (ALV-25, HAL-14)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from webkit import ROLE_USERS

from switchboard.telephony.calllog import CallEntry
from switchboard.web import WebServices
from switchboard.web.auth import Account, Role
from switchboard.web.core import STATE
from switchboard.web.features.reports import digest, pages, service
from switchboard.web.features.reports.schemas import UnusedReport

Client = TestClient[web.Request, web.Application]
ADMIN = ROLE_USERS[Role.ADMIN]
MANAGER = "cecilia.carlsson"
BERTIL_MOBILE = "0701244568"  # 070-124 45 68, unused in the sample calls
BYGGLOV = "026830 50"  # the group Bygglov, 026-830 50


def admin(services: WebServices) -> Account:
    acct = services.accounts.get(ADMIN)
    assert acct is not None
    return acct


def unused_ids(report: UnusedReport) -> set[tuple[str, str]]:
    return {(s.entry_id, s.kind) for s in report.unused}


async def call(services: WebServices, cid: str, at: datetime, called: str, **kw: object) -> None:
    assert services.call_log is not None
    await services.call_log.record(
        CallEntry(
            cid,
            at,
            caller=str(kw.get("caller", "0731112233")),
            called=called,
            outcome=str(kw.get("outcome", "answered")),
            action="ring",
        )
    )


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    """Each test starts without digests (the stores are new anyway)."""
    digest._CACHES.clear()


async def test_alv25_hal14_a_day_that_is_over_is_read_once(
    services: WebServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ALV-25/HAL-14: the first report reads its days; the next reads only today (local
    midnight to now); a day later the day before is read once more, after SETTLE not again."""
    log = services.call_log
    assert log is not None
    seen: list[tuple[datetime, datetime]] = []
    real = log.call_rows

    async def counting(since: datetime, until: datetime) -> list[object]:
        seen.append((since, until))
        return list(await real(since, until))

    monkeypatch.setattr(log, "call_rows", counting)
    tz = services.config.org.timezone
    now = services.now()
    await service.manager_report(services, admin(services))
    assert seen and seen[-1][1] == now
    seen.clear()
    await service.manager_report(services, admin(services))
    midnight = datetime.combine(now.astimezone(tz).date(), datetime.min.time(), tzinfo=tz)
    assert seen == [(midnight, now)]
    seen.clear()
    later = now + timedelta(days=1)
    services.now = lambda: later
    await service.manager_report(services, admin(services))
    # yesterday (not yet settled at 10.15) and today: one run of two days
    assert seen == [(midnight, later)]
    seen.clear()
    settled = midnight + timedelta(days=2) + digest.SETTLE
    services.now = lambda: settled
    await service.manager_report(services, admin(services))
    await service.manager_report(services, admin(services))
    today = midnight + timedelta(days=2)
    assert seen[-1] == (today, settled) and all(s >= midnight + timedelta(days=1) for s, _ in seen)


async def test_alv25_the_window_edge_the_year_and_a_call_written_today(
    services: WebServices,
) -> None:
    """ALV-25: a call 89 days back keeps a number in use, one 91 days back does not; a call at
    00.30 on 1 January (23.30 UTC the day before) counts in the new year, not the old; a call
    written after the first report is counted by the next."""
    acct = admin(services)
    now = services.now()
    tz = services.config.org.timezone
    before = await service.unused(services, acct)
    assert ("bertil.berg", "mobile") in unused_ids(before)
    assert ("bygglov", "group") in unused_ids(before)
    await call(services, "edge.in", now - timedelta(days=89), BERTIL_MOBILE)
    await call(services, "edge.out", now - timedelta(days=91), BYGGLOV)
    new_year = datetime(now.astimezone(tz).year, 1, 1, 0, 30, tzinfo=tz)
    await call(services, "year.in", new_year, BYGGLOV)
    await call(services, "year.out", new_year - timedelta(hours=1), BYGGLOV)
    digest._CACHES.clear()
    after = await service.unused(services, acct)
    assert ("bertil.berg", "mobile") not in unused_ids(after)
    assert ("bygglov", "group") in unused_ids(after)
    unit = "Samhällsbyggnad"
    # edge.in (Aug) and year.in count in this year; year.out is last year's
    assert after.by_unit[unit].calls == before.by_unit[unit].calls + 3
    last_year = await service.unused(services, acct, new_year.year - 1)
    assert last_year.by_unit[unit].calls == 1
    await call(services, "today.1", now - timedelta(minutes=5), BYGGLOV)
    again = await service.unused(services, acct)
    assert ("bygglov", "group") not in unused_ids(again)
    assert again.by_unit[unit].calls == after.by_unit[unit].calls + 1
    digest._CACHES.clear()
    assert await service.unused(services, acct) == again  # kept == read afresh


async def test_hal14_attempts_within_the_days_asked_and_the_managers_own_staff(
    services: WebServices,
) -> None:
    """HAL-14: an attempt 29 days back is shown for 30 days, not for 7; newest first; the
    manager sees her staff's, an administrator every one."""
    now = services.now()
    await call(
        services, "old", now - timedelta(days=29), "0900123456", caller="83013", outcome="rejected"
    )
    await call(
        services,
        "new",
        now - timedelta(hours=1),
        "00442079460000",
        caller="83013",
        outcome="rejected",
    )
    got = await service.blocked_attempts(services, admin(services), 30)
    assert [(a.kind, a.user) for a in got.attempts] == [
        ("international", "bertil.berg"),
        ("premium_rate", "bertil.berg"),
    ]
    week = await service.blocked_attempts(services, admin(services), 7)
    assert [a.kind for a in week.attempts] == ["international"]
    manager = Account(MANAGER, frozenset({Role.STAFF}), "x")
    mine = await service.blocked_attempts(services, manager, 30)
    assert len(mine.attempts) == 2


def test_alv25_a_new_directory_starts_the_cache_afresh(services: WebServices) -> None:
    """A changed directory (an administrator's switch) is a new cache; the same one is kept."""
    log = services.call_log
    assert log is not None
    directory = services.org().directory
    first = digest.cache_for(log, directory)
    assert digest.cache_for(log, directory) is first
    other = type(directory).build(
        directory.users, directory.groups, (), directory.switchboard, directory.plan
    )
    assert digest.cache_for(log, other) is not first


def test_numbers_shown_in_national_form_and_foreign_ones_internationally() -> None:
    """Issue 20: '070-123 45 67' at home, '+44 20 7946 0000' abroad."""
    assert pages.shown_number("+46701234567", "46") == "070-123 45 67"
    assert pages.shown_number("+462683012", "46") == "026-830 12"
    assert pages.shown_number("+442079460000", "46") == "+44 20 7946 0000"
    assert pages.shown_number("anonymous", "46") == "anonymous"


def _text(html: str, ident: str) -> str:
    part = html.split(f'id="{ident}"')[1].split("</table>")[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", part))


async def test_alv25_the_page_pages_the_unused_and_shows_names_and_numbers(
    client: Client, services: WebServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ALV-25: an administrator's thousands of unused numbers come a page at a time, by name
    and national number; a page past the end says so; a bad page number is refused in
    Swedish."""
    token, _ = client.app[STATE].codec.issue(ADMIN, services.now())
    h = {"Authorization": f"Bearer {token}"}
    monkeypatch.setattr(pages, "PAGE_SIZE", 3)
    first = await (await client.get("/chef", headers=h)).text()
    rows = _text(first, "unused")
    assert "Bertil Berg" in rows and "070-124 45 68" in rows and "+46" not in rows
    assert first.count('<td data-label="Namn">') == 3
    assert 'href="/chef?page=2#unused-heading"' in first and "Nästa sida" in first
    second = await (await client.get("/chef?page=2", headers=h)).text()
    assert "Föregående sida" in second and "Visar 4–6 av" in second
    past = await client.get("/chef?page=999", headers=h)
    assert past.status == 200 and "Sidan 999 finns inte" in await past.text()
    bad = await client.get("/chef?page=x", headers=h)
    assert bad.status == 422 and "ange ett heltal" in await bad.text()
