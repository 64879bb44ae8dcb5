"""Issue 20, the board and the staff redirect form: a small page at 3,000 users (search, paging,
units), numbers in national form that never wrap, where each call really ends up (routing's own
decision, followed: Anna's calls never shown as going to Bertil while he is away), groups,
on-call and shared phones, a manager's redirect for their staff (ALV-02) and a Swedish 403.

SQLite only: these check the pages and rules, not storage (the stores run on both engines in
test_api.py).
"""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from storekit import Storage, make_storage
from webkit import OWNER, ROLE_USERS, password_hash

from routing.absence import AbsenceReason
from routing.destination import destination
from routing.models import Directory, User
from routing.presence import manual_redirect
from switchboard.web import WebServices
from switchboard.web.auth import Account, Accounts, Role
from switchboard.web.core import STATE
from switchboard.web.features.directory import pages

Client = TestClient[web.Request, web.Application]
STAFF = ROLE_USERS[Role.STAFF]  # bertil.berg: Anna's covering point
ADMIN = ROLE_USERS[Role.ADMIN]
MANAGER = "cecilia.carlsson"  # every sample user's manager


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    """SQLite files only (see the module docstring)."""
    return make_storage("sqlite", tmp_path / "vm")


@pytest.fixture
async def services(services: WebServices) -> WebServices:
    """The shared services, with the manager signed in as plain staff (not an administrator)."""
    accounts = [services.accounts.get(uid) for uid in (*ROLE_USERS.values(), OWNER)]
    extra = Account(MANAGER, frozenset({Role.STAFF}), password_hash())
    services.accounts = Accounts.of([a for a in accounts if a is not None] + [extra])
    return services


def bearer(client: Client, user: str, services: WebServices) -> dict[str, str]:
    """A signed token for `user`."""
    token, _ = client.app[STATE].codec.issue(user, services.now())
    return {"Authorization": f"Bearer {token}"}


def cookie(client: Client, user: str, services: WebServices) -> str:
    """Sign `user` in by cookie; returns the CSRF token for forms."""
    token, sess = client.app[STATE].codec.issue(user, services.now())
    client.session.cookie_jar.update_cookies({"sb_session": token})
    return str(client.app[STATE].codec.csrf(sess))


async def away(services: WebServices, uid: str, by: str | None = None) -> None:
    now = services.now()
    m = manual_redirect(
        uid, AbsenceReason.MEETING, now + timedelta(hours=3), services.config.rules, now
    )
    await services.store.set_manual(m, by or uid, now)


async def row_of(client: Client, h: dict[str, str], uid: str) -> dict[str, object]:
    users = (await (await client.get("/api/directory", headers=h)).json())["users"]
    found: dict[str, object] = next(u for u in users if u["id"] == uid)
    return found


async def test_board_numbers_national_and_never_wrapping_with_mobile(
    client: Client, services: WebServices
) -> None:
    """Extension and mobile in national form, each in a nowrap element, tel: links in E.164."""
    h = bearer(client, STAFF, services)
    html = await (await client.get("/", headers=h)).text()
    row = re.search(r'<tr id="u-anna\.andersson".*?</tr>', html, re.S)
    assert row is not None
    assert '<a class="nr" href="tel:+462683012">026-830 12</a>' in row.group(0)
    assert '<a class="nr" href="tel:+46701234567">070-123 45 67</a>' in row.group(0)
    assert ".nr{white-space:nowrap}" in html
    assert 'aria-live="polite"' in html and "Grupper, jour och delade telefoner" in html


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("830 12", {OWNER}),
        ("026-830 13", {STAFF}),
        ("0701234567", {OWNER}),
        ("andersson", {OWNER}),
        ("anna 830 12", {OWNER}),
    ],
)
async def test_board_search_by_number_and_name(
    client: Client, services: WebServices, q: str, expected: set[str]
) -> None:
    """A number in any usual form, or a name, finds the person."""
    h = bearer(client, STAFF, services)
    html = await (await client.get("/", params={"q": q}, headers=h)).text()
    assert set(re.findall(r'<tr id="u-([^"]+)"', html)) == expected


async def test_board_by_unit_and_groups_and_shared_phones(
    client: Client, services: WebServices
) -> None:
    """The unit filter shows that unit only; its groups, on-call number and shared phones too."""
    h = bearer(client, STAFF, services)
    html = await (await client.get("/", params={"enhet": "Socialtjänst"}, headers=h)).text()
    ids = set(re.findall(r'<tr id="u-([^"]+)"', html))
    units = {u.id: u.unit for u in services.config.directory.users}
    assert ids and {units[i] for i in ids} == {"Socialtjänst"}
    assert 'id="o-socialjour"' in html and ">Jour<" in html
    assert "026-830 60" in html
    html = await (await client.get("/", params={"q": "hemtjänst"}, headers=h)).text()
    assert 'id="o-hemtjanst-nord"' in html and "Delad telefon" in html


async def test_board_pages_a_big_directory(client: Client, services: WebServices) -> None:
    """3,000 users: one page holds PAGE_SIZE rows; the pager links the next page."""
    base = services.config.directory
    people = tuple(
        User(f"p{i:04d}", f"Person {i:04d}", f"+4626831{i % 100:02d}", None, unit=f"Enhet {i % 30}")
        for i in range(3000)
    )
    directory = Directory.build(people, (), (), base.switchboard, base.plan)
    org = dataclasses.replace(services.config.org, directory=directory)
    services.config = dataclasses.replace(services.config, org=org)
    h = bearer(client, ADMIN, services)
    resp = await client.get("/", headers=h)
    html = await resp.text()
    assert resp.status == 200
    assert len(re.findall(r'<tr id="u-', html)) == pages.PAGE_SIZE
    assert "sida 1 av 60" in html and 'href="/?sida=2"' in html
    assert len(html) < 100_000, len(html)
    html2 = await (await client.get("/?sida=2", headers=h)).text()
    assert set(re.findall(r'<tr id="u-([^"]+)"', html)).isdisjoint(
        re.findall(r'<tr id="u-([^"]+)"', html2)
    )


async def test_issue20_annas_calls_go_where_routing_sends_them(
    client: Client, services: WebServices
) -> None:
    """Anna away, Bertil (her covering point) in: calls go to Bertil, call his extension.
    Bertil away too: the board says what routing does instead, never Bertil."""
    h = bearer(client, STAFF, services)
    await away(services, OWNER)
    row = await row_of(client, h, OWNER)
    assert row["goes_to"] == "Bertil Berg" and row["call_now"] == "+462683013", row
    said = str(row["announcement"])
    assert said == "Anna Andersson är nu hänvisad till Bertil Berg till 13.15.", said
    await away(services, STAFF)
    row = await row_of(client, h, OWNER)
    now = services.now()
    st = await services.effective(now)
    truth = destination(st, "+462683012", now).final
    assert "Bertil" not in str(row["goes_to"]) and row["call_now"] != "+462683013", row
    assert truth.target != "+462683013" and truth.user != STAFF
    html = await (await client.get("/", headers=h)).text()
    anna = re.search(r'<tr id="u-anna\.andersson".*?</tr>', html, re.S)
    assert anna is not None and "Bertil" not in anna.group(0)


async def test_alv02_a_manager_redirects_their_staff_and_is_named(
    client: Client, services: WebServices
) -> None:
    """ALV-02: the manager sets and clears a colleague's redirect; the row says who set it."""
    h = bearer(client, MANAGER, services)
    body = {"reason": "training", "until": "2026-11-24T15:00"}
    resp = await client.put(f"/api/users/{OWNER}/manual-redirect", json=body, headers=h)
    got = await resp.json()
    assert resp.status == 200 and got["manual"]["set_by"] == MANAGER, got
    row = await row_of(client, bearer(client, STAFF, services), OWNER)
    assert row["set_by_name"] == "Cecilia Carlsson"
    assert row["announcement"] == "Anna Andersson är nu hänvisad till Bertil Berg till 15.00."
    resp = await client.delete(f"/api/users/{OWNER}/manual-redirect", headers=h)
    assert resp.status == 200 and (await resp.json())["manual"] is None


async def test_alv02_staff_may_not_redirect_a_colleague_told_in_swedish(
    client: Client, services: WebServices
) -> None:
    """Not the manager, not an administrator: 403 with a Swedish reason; nothing stored."""
    h = bearer(client, OWNER, services)
    resp = await client.put(
        f"/api/users/{STAFF}/manual-redirect", json={"reason": "lunch"}, headers=h
    )
    got = await resp.json()
    assert resp.status == 403 and got["error_id"] == "forbidden"
    assert "din egen hänvisning" in got["message"] and "chef" in got["message"]
    assert services.store.manual_for(STAFF, services.now()) is None
    cookie(client, OWNER, services)
    page = await client.get("/min-tillganglighet", params={"for": STAFF})
    assert page.status == 403 and "din egen hänvisning" in await page.text()


async def test_alv02_the_manager_uses_the_form_for_a_colleague(
    client: Client, services: WebServices
) -> None:
    """The manager's page lists their staff; the form for one of them saves and is audited."""
    csrf = cookie(client, MANAGER, services)
    mine = await (await client.get("/min-tillganglighet")).text()
    assert 'id="staff"' in mine and f"/min-tillganglighet?for={OWNER}" in mine
    page = await (await client.get("/min-tillganglighet", params={"for": OWNER})).text()
    assert "Hänvisning för Anna Andersson" in page and f'name="for" value="{OWNER}"' in page
    form = {"csrf": csrf, "for": OWNER, "reason": "meeting", "until": "2026-11-24T14:00"}
    resp = await client.post("/min-tillganglighet", data=form, allow_redirects=False)
    assert resp.status == 303 and "ok=" in resp.headers["Location"]
    assert f"for={OWNER}" in resp.headers["Location"]
    assert services.store.set_by(OWNER) == MANAGER
    page = await (await client.get("/min-tillganglighet", params={"for": OWNER})).text()
    assert "Satt av Cecilia Carlsson" in page
    resp = await client.post(
        "/min-tillganglighet/rensa", data={"csrf": csrf, "for": OWNER}, allow_redirects=False
    )
    assert resp.status == 303 and services.store.manual_for(OWNER, services.now()) is None


async def test_a_refused_form_keeps_what_was_typed_and_marks_the_field(
    client: Client, services: WebServices
) -> None:
    """An end in the past: back to the form, the values typed, `until` marked and explained."""
    csrf = cookie(client, OWNER, services)
    form = {"csrf": csrf, "reason": "travel", "until": "2026-11-23T08:00", "text": "På kurs"}
    resp = await client.post("/min-tillganglighet", data=form)
    html = await resp.text()
    assert resp.status == 200
    assert re.search(r'id="until" name="until" value="2026-11-23T08:00" aria-invalid="true"', html)
    assert 'aria-describedby="until-fel"' in html and 'id="until-fel"' in html
    assert "Sluttiden måste ligga i framtiden" in html
    assert '<option value="travel" selected>' in html and 'value="På kurs"' in html
    assert services.store.manual_for(OWNER, services.now()) is None


def test_alv02_a_manager_only_for_their_own_staff() -> None:
    """`manager` in the directory decides: not someone else's staff, not oneself's manager."""
    from switchboard.web.features.directory.access import may_redirect, staff_of

    people = (
        User("chef.a", "Chef A", None, None),
        User("chef.b", "Chef B", None, None),
        User("x", "X", None, None, manager="chef.a"),
        User("y", "Y", None, None, manager="chef.b"),
    )
    d = Directory.build(people)
    chef_a = Account("chef.a", frozenset({Role.STAFF}), "")
    assert may_redirect(chef_a, "x", d) and not may_redirect(chef_a, "y", d)
    assert may_redirect(chef_a, "chef.a", d) and not may_redirect(chef_a, "nobody", d)
    assert staff_of(chef_a, d) == ["x"]
    admin = Account("z", frozenset({Role.ADMIN}), "")
    assert may_redirect(admin, "y", d) and len(staff_of(admin, d)) == 4
