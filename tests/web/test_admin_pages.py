"""The administrator's page (issue 20): users searched and paged, many changed at once after a
confirmation, every switch change in the history (page and API), lost phones blocked from the
page (ALV-21, HAL-12), the organisation-wide switch confirmed first (ALV-12)."""

from __future__ import annotations

import dataclasses
import re

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from webkit import OWNER, ROLE_USERS

from switchboard.config.admin_settings import AdminSettings
from switchboard.web import WebServices
from switchboard.web.auth import Account, Accounts, Role
from switchboard.web.core import STATE

Client = TestClient[web.Request, web.Application]
ADMIN = ROLE_USERS[Role.ADMIN]  # lena.lund, every unit
UNIT_ADMIN = "gustav.gran"  # administrator of Vård och omsorg only
SOCIAL = ("david.dahl", "eva.ek")  # the sample's Socialtjänst


@pytest.fixture(autouse=True)
def unit_admin(services: WebServices) -> None:
    """A unit-scoped administrator besides webkit's accounts."""
    scoped = Account(
        UNIT_ADMIN, frozenset({Role.STAFF, Role.ADMIN}), "x", frozenset({"Vård och omsorg"})
    )
    services.accounts = Accounts.of([*services.accounts.by_user.values(), scoped])


def bearer(client: Client, user: str, services: WebServices) -> dict[str, str]:
    """A signed token for `user`."""
    token, _ = client.app[STATE].codec.issue(user, services.now())
    return {"Authorization": f"Bearer {token}"}


async def page(client: Client, services: WebServices, path: str, user: str = ADMIN) -> str:
    resp = await client.get(path, headers=bearer(client, user, services))
    assert resp.status == 200, path
    return await resp.text()


async def post(
    client: Client, services: WebServices, path: str, data: object, user: str = ADMIN
) -> tuple[int, str, str]:
    resp = await client.post(
        path, data=data, headers=bearer(client, user, services), allow_redirects=False
    )
    return resp.status, resp.headers.get("Location", ""), await resp.text()


async def history(client: Client, services: WebServices, query: str = "") -> dict[str, object]:
    resp = await client.get(
        f"/api/admin/switch-changes{query}", headers=bearer(client, ADMIN, services)
    )
    assert resp.status == 200
    out: dict[str, object] = await resp.json()
    return out


async def test_search_by_name_unit_and_number(client: Client, services: WebServices) -> None:
    """Issue 20: the list is searched by name, unit, extension or number in national form."""
    for q, expect in (
        ("andersson", ["Anna Andersson"]),
        ("Socialtjänst", ["David Dahl", "Eva Ek"]),
        ("830 12", ["Anna Andersson"]),
        ("026-830 12", ["Anna Andersson"]),
        ("+4626 830 12", ["Anna Andersson"]),
    ):
        text = await page(client, services, f"/admin?q={q}")
        table = text.split('id="switches"')[1].split("</table>")[0]
        names = re.findall(r'<td data-label="Namn">([^<]+)', table)
        assert names == expect, q
        assert f"Visar 1–{len(expect)} av {len(expect)}" in text
    text = await page(client, services, "/admin?q=1")  # a digit: every number holding it
    assert 'name="q" value="1"' in text and "Visar 1–" in text
    text = await page(client, services, "/admin?q=zzzz")
    assert "Ingen användare matchar ”zzzz”" in text and 'id="switches"' not in text


async def test_bulk_change_is_confirmed_then_audited(client: Client, services: WebServices) -> None:
    """ALV-05 for many at once: the ticked users, a confirmation with the count, then one
    change per user in the history ("Mobilen följer kalendern: av → på", who, when)."""
    form = [
        ("installning", "mobile_follows_calendar"),
        ("varde", "1"),
        ("vilka", "valda"),
        ("q", "Social"),
    ]
    form += [("anvandare", uid) for uid in SOCIAL]
    status, _, text = await post(client, services, "/admin/flera", form)
    assert status == 200 and "för 2 användare?" in text
    assert "David Dahl" in text and "Eva Ek" in text
    assert not any(services.org().directory.user(u).mobile_follows_calendar for u in SOCIAL)  # type: ignore[union-attr]
    status, where, _ = await post(
        client, services, "/admin/flera", [*form, ("antal", "2"), ("confirm", "ja")]
    )
    assert status == 303 and where.startswith("/admin?q=Social&ok=")
    assert all(services.org().directory.user(u).mobile_follows_calendar for u in SOCIAL)  # type: ignore[union-attr]
    got = await history(client, services)
    assert got["total"] == 2
    changes = got["changes"]
    assert isinstance(changes, list)
    assert {c["target_name"] for c in changes} == {"David Dahl", "Eva Ek"}
    assert {(c["by_name"], c["scope"], c["text"], c["when"]) for c in changes} == {
        ("Lena Lund", "bulk", "Mobilen följer kalendern: av → på", "2026-11-24 10.15")
    }
    text = await page(client, services, "/admin")
    assert "Ändringshistorik" in text and "Mobilen följer kalendern: av → på" in text
    assert "(flera på en gång)" in text


async def test_bulk_for_all_matching_rechecks_the_count(
    client: Client, services: WebServices
) -> None:
    """ "Alla som matchar sökningen": the count is shown; when it no longer matches what was
    confirmed, the confirmation is shown again; nothing chosen is an error in Swedish."""
    form = {"installning": "international_unlocked", "varde": "1", "vilka": "alla", "q": "Social"}
    status, _, text = await post(client, services, "/admin/flera", form)
    assert status == 200 and "alla 2 användare som matchar sökningen ”Social”" in text
    stale = {**form, "antal": "3", "confirm": "ja"}
    status, _, text = await post(client, services, "/admin/flera", stale)
    assert status == 200 and "Antalet som matchar sökningen har ändrats" in text
    status, _, _ = await post(client, services, "/admin/flera", {**stale, "antal": "2"})
    assert status == 303
    assert all(services.org().directory.user(u).international_unlocked for u in SOCIAL)  # type: ignore[union-attr]
    status, where, _ = await post(client, services, "/admin/flera", {**form, "vilka": "valda"})
    assert status == 303 and "fel=Markera+minst+en" in where


async def test_every_switch_change_is_in_the_history(client: Client, services: WebServices) -> None:
    """ALV-12 (organisation-wide, confirmed) and one user's form are audited in words, newest
    first, 20 to a page; the API pages too."""
    status, _, _ = await post(
        client, services, "/admin/rostbrevlada", {"enabled": "0", "confirm": "ja"}
    )
    assert status == 303
    status, where, _ = await post(
        client,
        services,
        f"/admin/anvandare/{OWNER}",
        {"voicemail": "on", "mobile_follows_calendar": "on", "q": "anna", "sida": "1"},
    )
    assert status == 303 and where.startswith("/admin?q=anna&ok=Inst%C3%A4llningarna+f%C3%B6r")
    got = await history(client, services)
    texts = [(c["target_name"], c["text"]) for c in got["changes"]]  # type: ignore[attr-defined]
    assert ("Hela organisationen", "Röstbrevlåda för alla med anknytning: på → av") in texts
    assert ("Anna Andersson", "Mobilen följer kalendern: av → på") in texts
    for i in range(22):  # 22 more changes: the history has two pages
        await post(
            client, services, "/admin/rostbrevlada", {"enabled": str(i % 2), "confirm": "ja"}
        )
    got = await history(client, services, "?limit=5&page=2")
    assert got["page"] == 2 and len(got["changes"]) == 5  # type: ignore[arg-type]
    first = await page(client, services, "/admin")
    assert first.count('<td data-label="När"') == 20 and 'href="/admin?hsida=2#historik"' in first
    second = await page(client, services, "/admin?hsida=2")
    assert second.count('<td data-label="När"') == int(str(got["total"])) - 20
    resp = await client.get(
        "/api/admin/switch-changes?limit=0", headers=bearer(client, ADMIN, services)
    )
    assert resp.status == 422


async def test_alv21_hal12_a_lost_phone_is_blocked_from_the_page(
    client: Client, services: WebServices
) -> None:
    """ALV-21/HAL-12: the unit's administrator finds the shared phone, confirms with a note, the
    contact centre and the mobile officer are told; it is listed as blocked, audited, and the
    block is lifted the same way. Another unit's phone is refused."""
    officer = AdminSettings(mobile_officer="karl.karlsson")
    services.config = dataclasses.replace(services.config, administration=officer)
    text = await page(client, services, "/admin?sparr=hemtj", UNIT_ADMIN)
    assert "Hemtjänst Nord" in text and "Hemtjänst Syd" in text and "070-555 00 01" in text
    assert "Anna Andersson" not in text  # not of his units
    form = {"post": "hemtjanst-nord", "sparrad": "1", "sparr": "hemtj"}
    status, _, text = await post(client, services, "/admin/sparr", form, UNIT_ADMIN)
    assert status == 200 and "Vill du spärra Hemtjänst Nord?" in text
    assert "Medborgarservice och Karl Karlsson får ett meddelande" in text
    assert not services.org().directory.by_id["hemtjanst-nord"].blocked  # type: ignore[union-attr]
    too_long = {**form, "confirm": "ja", "anteckning": "x" * 501}
    status, _, text = await post(client, services, "/admin/sparr", too_long, UNIT_ADMIN)
    assert status == 422 and 'aria-invalid="true"' in text and "x" * 501 in text
    done = {**form, "confirm": "ja", "anteckning": "Borttappad på bussen"}
    status, where, _ = await post(client, services, "/admin/sparr", done, UNIT_ADMIN)
    assert status == 303 and where.startswith("/admin?sparr=hemtj&ok=")
    assert services.org().directory.by_id["hemtjanst-nord"].blocked  # type: ignore[union-attr]
    assert services.call_log is not None
    told = await services.call_log.notices(["contact_centre", "karl.karlsson"])
    assert len(told) == 2 and all("Borttappad på bussen" in n.body for n in told)
    assert all("av Gustav Gran" in n.body for n in told)
    text = await page(client, services, "/admin", UNIT_ADMIN)
    blocked = text.split('id="sparrade"')[1].split("</table>")[0]
    assert "Hemtjänst Nord" in blocked and "Häv spärren för Hemtjänst Nord" in blocked
    assert "Spärrad: nej → ja" in text
    lift = {"post": "hemtjanst-nord", "sparrad": "0", "confirm": "ja"}
    status, _, _ = await post(client, services, "/admin/sparr", lift, UNIT_ADMIN)
    assert status == 303 and not services.org().directory.by_id["hemtjanst-nord"].blocked  # type: ignore[union-attr]
    other = {"post": OWNER, "sparrad": "1", "confirm": "ja"}
    status, _, text = await post(client, services, "/admin/sparr", other, UNIT_ADMIN)
    assert status == 403 and "du administrerar inte enheten" in text


async def test_a_scoped_administrator_sees_and_changes_only_their_units(
    client: Client, services: WebServices
) -> None:
    """HAL-12: the list holds only the administrator's units; a bulk change of another unit's
    user is refused, and so is the organisation-wide voicemail switch (ALV-12); the history
    holds only the changes of his units' users and phones."""
    text = await page(client, services, "/admin", UNIT_ADMIN)
    assert "Du administrerar Vård och omsorg" in text and "Anna Andersson" not in text
    assert 'action="/admin/rostbrevlada"' not in text  # the organisation-wide switch: not his
    status, _, text = await post(
        client, services, "/admin/rostbrevlada", {"enabled": "0", "confirm": "ja"}, UNIT_ADMIN
    )
    assert status == 403 and "du administrerar bara Vård och omsorg" in text
    assert services.org().policy.voicemail_extension_users is True
    await post(client, services, f"/admin/anvandare/{OWNER}", {"voicemail": "on"})
    await post(
        client, services, "/admin/sparr", {"post": "hemtjanst-syd", "sparrad": "1", "confirm": "ja"}
    )
    text = await page(client, services, "/admin", UNIT_ADMIN)
    history = text.split('id="andringar"')[1].split("</table>")[0]
    assert "Hemtjänst Syd" in history and "Anna Andersson" not in history
    assert "1 ändring, de senaste först" in text
    form = {"installning": "voicemail", "varde": "1", "vilka": "valda", "anvandare": OWNER}
    status, where, _ = await post(client, services, "/admin/flera", form, UNIT_ADMIN)
    assert status == 303 and "fel=" in where  # not in his list: nothing chosen
