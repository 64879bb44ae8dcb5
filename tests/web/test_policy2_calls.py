"""Issue 19, second policy round, on the call log and its service records (both engines):
threats by their recipient (ALV-20), live service level (HAL-03, HAL-05), unused subscriptions
(ALV-25), assisted international calls (ALV-26), blocking and scoped administrators (HAL-12),
directory history (HAL-13), blocked attempts for the manager (HAL-14)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from webkit import OWNER, ROLE_USERS

from routing.absence import PresenceBook
from routing.decide import decide
from routing.models import Action, Call, User
from simulation.engine import coverage_gaps
from switchboard.config.admin_settings import AdminSettings
from switchboard.telephony.calllog import CallEntry
from switchboard.web import WebServices, setup_web
from switchboard.web.auth import Account, Accounts, Role, load_accounts
from switchboard.web.core import STATE

Client = TestClient[web.Request, web.Application]
STAFF = ROLE_USERS[Role.STAFF]  # bertil.berg, 026-830 13
IT = ROLE_USERS[Role.IT]
ADMIN = ROLE_USERS[Role.ADMIN]  # lena.lund, every unit
MANAGER = "cecilia.carlsson"  # the directory's manager of most staff
AGENT = "frida.falk"  # Medborgarservice in these tests
UNIT_ADMIN = "gustav.gran"  # administrator of Vård och omsorg only


@pytest.fixture(autouse=True)
def more_accounts(services: WebServices) -> None:
    """A manager, a contact-centre agent and a unit-scoped administrator besides webkit's."""
    extra = [
        Account(MANAGER, frozenset({Role.STAFF}), "x"),
        Account(AGENT, frozenset({Role.STAFF, Role.CONTACT_CENTRE}), "x"),
        Account(
            UNIT_ADMIN, frozenset({Role.STAFF, Role.ADMIN}), "x", frozenset({"Vård och omsorg"})
        ),
    ]
    services.accounts = Accounts.of([*services.accounts.by_user.values(), *extra])


def bearer(client: Client, user: str, services: WebServices) -> dict[str, str]:
    """A signed token for `user`."""
    token, _ = client.app[STATE].codec.issue(user, services.now())
    return {"Authorization": f"Bearer {token}"}


def _utc(day: int, hour: int, minute: int) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


# ---------------------------------------------------------------- ALV-20


async def test_alv20_the_recipient_flags_their_own_call_others_get_403(
    client: Client, services: WebServices
) -> None:
    """ALV-20: Anna received call .1 (83012) and flags it; Bertil may not (403, Swedish); IT may
    flag any call and sees every incident."""
    anna = bearer(client, OWNER, services)
    resp = await client.post("/api/calls/1764000000.1/threat", json={"note": "Hot"}, headers=anna)
    got = await resp.json()
    assert resp.status == 201, got
    assert got["reported_by"] == OWNER and got["call"]["called"] == "83012"
    bertil = bearer(client, STAFF, services)
    resp = await client.post("/api/calls/1764000000.1/threat", json={"note": "x"}, headers=bertil)
    body = await resp.json()
    assert resp.status == 403 and body["message"].startswith("du kan bara anmäla hot")
    it = bearer(client, IT, services)
    resp = await client.post("/api/calls/1764000000.3/threat", json={"note": "x"}, headers=it)
    assert resp.status == 201
    incidents = (await (await client.get("/api/incidents", headers=it)).json())["incidents"]
    assert {i["reported_by"] for i in incidents} == {OWNER, IT}
    assert (await client.get("/api/incidents", headers=anna)).status == 403
    mine = (await (await client.get("/api/me/calls", headers=anna)).json())["calls"]
    assert [c["call_id"] for c in mine] == ["1764000000.1"]
    page = await (await client.get("/mina-samtal", headers=anna)).text()
    assert "/mina-samtal/1764000000.1/hot" in page and "1764000000.3" not in page


async def test_alv20_an_unknown_call_on_my_calls_page_says_so_in_swedish(
    client: Client, services: WebServices
) -> None:
    """ALV-20: flagging a call the log does not hold, from the page, goes back with the call
    log's own error (one `UnknownCall`, Swedish); the API answers 404 `unknown-call`."""
    anna = bearer(client, OWNER, services)
    resp = await client.post(
        "/mina-samtal/no-such-call/hot", data={"note": "Hot"}, headers=anna, allow_redirects=False
    )
    assert resp.status == 303
    fel = parse_qs(urlsplit(resp.headers["Location"]).query)["fel"]
    assert fel == ["det finns inget samtal 'no-such-call' i samtalsloggen"]
    resp = await client.post("/api/calls/no-such-call/threat", json={"note": "x"}, headers=anna)
    body = await resp.json()
    assert (resp.status, body["error_id"]) == (404, "unknown-call")
    assert body["message"] == fel[0]


# ---------------------------------------------------------------- HAL-03 / HAL-05


async def today_calls(services: WebServices) -> None:
    """Four more calls today (10.05–10.08 in Stockholm), one yesterday, one going out."""
    log = services.call_log
    assert log is not None
    for entry in (
        CallEntry("t.group", _utc(24, 9, 5), called="83050", outcome="answered", action="ring"),
        CallEntry(  # put through to Medborgarservice: not answered (not a covering point)
            "t.cc",
            _utc(24, 9, 6),
            called="83012",
            dialled=("PJSIP/83000",),
            outcome="transfer",
            action="transfer",
        ),
        CallEntry("t.vm", _utc(24, 9, 7), called="83013", outcome="voicemail_left"),
        CallEntry(  # going out: no one's service level
            "t.out", _utc(24, 9, 8), caller="83013", called="00442079460000", outcome="rejected"
        ),
        CallEntry("t.old", _utc(23, 9, 0), called="83012", outcome="answered"),
    ):
        await log.record(entry)


async def test_hal03_hal05_live_service_level_from_todays_real_calls(
    client: Client, services: WebServices
) -> None:
    """HAL-03: today's calls with the simulation's definitions, per hour, unit and kind; HAL-05:
    the coverage warnings of the live presence; both to admin and IT, and as /metrics gauges."""
    await today_calls(services)
    h = bearer(client, IT, services)
    resp = await client.get("/api/reports/service-level", headers=h)
    r = await resp.json()
    assert resp.status == 200, r
    # .1 answered, .2 hung up, .3 answered, group answered, to the contact centre, voicemail
    assert (r["calls"], r["answered"], r["answered_share"]) == (6, 4, 0.6667)
    assert r["outcomes"]["contact_centre"] == 1 and r["outcomes"]["voicemail"] == 1
    assert r["by_hour"]["09"] == {"calls": 2, "answered": 1, "answered_share": 0.5}
    assert r["by_hour"]["10"] == {"calls": 4, "answered": 3, "answered_share": 0.75}
    assert r["by_kind"]["group"]["calls"] == 1 and r["by_kind"]["extension"]["calls"] == 5
    assert r["by_unit"]["Samhällsbyggnad"] == {"calls": 5, "answered": 3, "answered_share": 0.6}
    st = await services.effective(services.now())
    expected = coverage_gaps(st.org, st.book, services.now().astimezone(st.org.timezone).date())
    assert [w["group"] for w in r["coverage_warnings"]] == [w.group for w in expected]
    assert (
        await client.get("/api/reports/service-level", headers=bearer(client, STAFF, services))
    ).status == 403
    page = await (await client.get("/rapporter", headers=bearer(client, ADMIN, services))).text()
    assert "67 %" in page and 'id="by-unit"' in page
    metrics = await (await client.get("/metrics")).text()
    assert "switchboard_answered_share_today 0.6667" in metrics
    assert 'switchboard_answered_share_today_by_kind{kind="group"} 1' in metrics
    assert f"switchboard_coverage_warnings_today {len(expected)}" in metrics


async def test_hal03_a_scrape_reads_one_day_through_the_index_and_is_cached(
    client: Client, services: WebServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HAL-03: /metrics reads today's range (not the table), at most once per 15 s."""
    log = services.call_log
    assert log is not None
    seen: list[tuple[datetime, datetime]] = []
    real = log.call_rows

    async def counting(since: datetime, until: datetime) -> list[object]:
        seen.append((since, until))
        return list(await real(since, until))

    monkeypatch.setattr(log, "call_rows", counting)
    for _ in range(3):
        assert (await client.get("/metrics")).status == 200
    assert len(seen) == 1 and seen[0][1] - seen[0][0] == timedelta(days=1)
    if hasattr(log, "db"):  # SQLite: the statement is an index range
        from switchboard.telephony.calllog.records import CALL_ROWS_SQL

        cur = await log.db.execute("EXPLAIN QUERY PLAN " + CALL_ROWS_SQL, ("a", "b"))
        plan = " ".join(str(r[-1]) for r in await cur.fetchall())
        assert "calls_started" in plan, plan


# ---------------------------------------------------------------- ALV-25


async def test_alv25_unused_subscriptions_for_the_manager_and_admins(
    client: Client, services: WebServices
) -> None:
    """ALV-25: the manager sees their units' numbers without calls in 90 days and the year's
    count per unit; an administrator too; other staff get 403 in Swedish."""
    resp = await client.get(
        "/api/reports/unused-subscriptions", headers=bearer(client, MANAGER, services)
    )
    r = await resp.json()
    assert resp.status == 200, r
    unused = {(s["id"], s["kind"]) for s in r["unused"]}
    assert r["days"] == 90
    assert ("anna.andersson", "extension") not in unused  # call .1 to 83012
    assert ("anna.andersson", "mobile") not in unused  # she called from 0701234567
    assert ("bertil.berg", "mobile") in unused and ("bygglov", "group") in unused
    assert ("hemtjanst-nord", "shared_phone") not in unused  # not her unit
    assert r["by_unit"]["Samhällsbyggnad"]["calls"] == 2  # .1 (both Anna's numbers) and .2
    resp = await client.get(
        "/api/reports/unused-subscriptions", headers=bearer(client, STAFF, services)
    )
    assert resp.status == 403 and "chefer" in (await resp.json())["message"]
    admin = await (
        await client.get(
            "/api/reports/unused-subscriptions", headers=bearer(client, ADMIN, services)
        )
    ).json()
    assert ("hemtjanst-nord", "shared_phone") in {(s["id"], s["kind"]) for s in admin["unused"]}
    services.config = dataclasses.replace(services.config, administration=AdminSettings(30, 1))
    services.now = lambda: datetime(2026, 11, 26, 12, tzinfo=UTC)  # two days later
    later = await (
        await client.get(
            "/api/reports/unused-subscriptions", headers=bearer(client, ADMIN, services)
        )
    ).json()
    assert ("anna.andersson", "extension") in {(s["id"], s["kind"]) for s in later["unused"]}
    page = await (await client.get("/chef", headers=bearer(client, MANAGER, services))).text()
    assert "Oanvända abonnemang" in page


# ---------------------------------------------------------------- ALV-26


async def test_alv26_blocked_message_offers_medborgarservice_and_the_agent_places_the_call(
    client: Client, services: WebServices
) -> None:
    """ALV-26: Bertil's blocked international call tells him Medborgarservice can connect it;
    the contact centre places it for him, logged with both parties; others get 403."""
    org = services.config.org
    d = decide(
        Call("00442079460000", caller="83013"),
        org.directory,
        PresenceBook(),
        org.policy,
        services.now(),
    )
    assert d.action is Action.REJECT and d.message is not None
    assert "enstaka samtal till utlandet kan Medborgarservice koppla åt dig" in d.message
    body = {"user": STAFF, "to": "+44 20 7946 0000"}
    resp = await client.post(
        "/api/contact-centre/assisted-calls", json=body, headers=bearer(client, AGENT, services)
    )
    got = await resp.json()
    assert resp.status == 201, got
    assert (got["from"], got["to"], got["placed_by"]) == ("+462683013", "+442079460000", AGENT)
    assert services.call_log is not None
    logged = await services.call_log.get(got["call_id"])
    assert logged is not None and (logged.caller, logged.called) == ("+462683013", "+442079460000")
    assert logged.outcome == "assisted_request"
    listed = await (
        await client.get(
            "/api/contact-centre/assisted-calls", headers=bearer(client, AGENT, services)
        )
    ).json()
    assert [c["user_id"] for c in listed["calls"]] == [STAFF]
    resp = await client.post(
        "/api/contact-centre/assisted-calls", json=body, headers=bearer(client, STAFF, services)
    )
    assert resp.status == 403
    resp = await client.post(
        "/api/contact-centre/assisted-calls",
        json={"user": STAFF, "to": "026-830 12"},
        headers=bearer(client, AGENT, services),
    )
    assert resp.status == 422 and "utlandsnummer" in (await resp.json())["message"]


# ---------------------------------------------------------------- HAL-12


async def test_hal12_a_unit_admin_blocks_its_shared_phone_and_the_contact_centre_is_told(
    client: Client, services: WebServices
) -> None:
    """HAL-12: Vård och omsorg's administrator blocks Hemtjänst Nord (never rung again), the
    contact centre gets a notice; blocking Anna (another unit) is a 403 in Swedish."""
    officer = AdminSettings(mobile_officer="karl.karlsson")  # the mobile officer is told too
    services.config = dataclasses.replace(services.config, administration=officer)
    scoped = bearer(client, UNIT_ADMIN, services)
    resp = await client.put(
        "/api/admin/phones/hemtjanst-nord/blocked",
        json={"blocked": True, "note": "Borttappad"},
        headers=scoped,
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["notified"] == ["contact_centre", "karl.karlsson"]
    assert services.call_log is not None
    told = await services.call_log.notices(["karl.karlsson"])
    assert [n.subject for n in told] == ["Spärrad: Hemtjänst Nord (Vård och omsorg)"]
    org = services.org()
    d = decide(Call("070-555 00 01"), org.directory, PresenceBook(), org.policy, services.now())
    assert d.action is not Action.RING
    for path, body in (
        ("/api/admin/phones/anna.andersson/blocked", {"blocked": True}),
        (f"/api/admin/users/{OWNER}/switches", {"blocked": True}),
    ):
        resp = await client.put(path, json=body, headers=scoped)
        got = await resp.json()
        assert resp.status == 403 and "du administrerar inte enheten" in got["message"], path
    resp = await client.put(
        f"/api/admin/users/{OWNER}/switches",
        json={"blocked": True},
        headers=bearer(client, ADMIN, services),
    )
    assert resp.status == 200
    notices = await (
        await client.get("/api/contact-centre/notices", headers=bearer(client, AGENT, services))
    ).json()
    subjects = [n["subject"] for n in notices["notices"]]
    assert subjects[:2] == [
        "Spärrad: Anna Andersson (Samhällsbyggnad)",
        "Spärrad: Hemtjänst Nord (Vård och omsorg)",
    ]
    page = await (
        await client.get("/kontaktcenter", headers=bearer(client, AGENT, services))
    ).text()
    assert "Spärrad: Hemtjänst Nord" in page


def test_hal12_accounts_yaml_scopes_an_administrator_to_units(
    services: WebServices, tmp_path: Path
) -> None:
    """HAL-12: `units:` in accounts.yaml scopes an administrator; a bad value is refused."""
    path = tmp_path / "accounts.yaml"
    path.write_text(
        "accounts:\n  gustav.gran: {roles: [admin], units: [Vård och omsorg]}\n"
        "  lena.lund: {roles: [admin]}\n",
        encoding="utf-8",
    )
    accounts, _ = load_accounts(path, services.config.directory, "dev-password")
    gustav, lena = accounts.get("gustav.gran"), accounts.get("lena.lund")
    assert gustav is not None and lena is not None
    assert gustav.administers("Vård och omsorg") and not gustav.administers("IT")
    assert lena.administers("IT")


# ---------------------------------------------------------------- HAL-13


@pytest.fixture
async def reloaded(services: WebServices) -> AsyncIterator[Client]:
    """The same stores with a changed directory, as a reload starts a new app: Karl Karlsson
    left and Nina Ny took over his extension, Bertil has a new mobile, a shared phone is new."""
    d = services.config.directory
    karl = d.user("karl.karlsson")
    bertil = d.user(STAFF)
    assert karl is not None and bertil is not None
    nina = User("nina.ny", "Nina Ny", karl.extension, None, unit="Fastighet")
    users = tuple(u for u in d.users if u.id != karl.id and u.id != STAFF)
    users += (dataclasses.replace(bertil, mobile="+46701999999"), nina)
    phones = (
        *d.shared_phones,
        dataclasses.replace(d.shared_phones[0], id="ny", mobile="+46705550009"),
    )
    new_dir = type(d).build(users, d.groups, phones, d.switchboard, d.plan)
    org = dataclasses.replace(services.config.org, directory=new_dir)
    svc = dataclasses.replace(services, config=dataclasses.replace(services.config, org=org))
    app = web.Application()
    setup_web(app, svc)
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c


async def test_hal13_directory_changes_are_kept_and_reported_to_the_contact_centre(
    client: Client, services: WebServices, reloaded: Client
) -> None:
    """HAL-13: the first load stores the directory; the reload finds the handover, the new and
    the changed number, keeps them and tells the contact centre."""
    h = bearer(reloaded, AGENT, services)
    resp = await reloaded.get("/api/contact-centre/directory-history", headers=h)
    changes = (await resp.json())["changes"]
    assert resp.status == 200
    kinds = {(c["kind"], c["entry_id"]) for c in changes}
    assert ("handover", "nina.ny") in kinds
    handover = next(c for c in changes if c["kind"] == "handover")
    assert (handover["from"], handover["number"]) == ("karl.karlsson", "+462683022")
    assert ("added", "ny") in kinds and ("removed", "karl.karlsson") in kinds
    changed = next(c for c in changes if c["kind"] == "number_changed")
    assert (changed["entry_id"], changed["before"], changed["after"]) == (
        STAFF,
        "+46701244568",
        "+46701999999",
    )
    notices = (await (await reloaded.get("/api/contact-centre/notices", headers=h)).json())[
        "notices"
    ]
    assert notices[0]["kind"] == "directory" and "registrera" in notices[0]["subject"]
    assert (
        await reloaded.get(
            "/api/contact-centre/directory-history", headers=bearer(reloaded, STAFF, services)
        )
    ).status == 403
    page = await (await reloaded.get("/kontaktcenter", headers=h)).text()
    assert "Överlämnat till efterträdare" in page


# ---------------------------------------------------------------- HAL-14


async def test_hal14_blocked_attempts_are_shown_to_the_users_manager(
    client: Client, services: WebServices
) -> None:
    """HAL-14: Bertil's blocked international and premium-rate attempts (logged by the service
    as `rejected`) reach his manager and the administrators; not other staff."""
    assert services.call_log is not None
    for cid, number, minute in (("b.intl", "00442079460000", 1), ("b.prem", "0900123456", 2)):
        await services.call_log.record(
            CallEntry(
                cid,
                _utc(24, 9, minute),
                caller="83013",
                called=number,
                outcome="rejected",
                action="reject",
            )
        )
    resp = await client.get(
        "/api/reports/blocked-attempts", headers=bearer(client, MANAGER, services)
    )
    got = await resp.json()
    assert resp.status == 200, got
    assert [(a["user"], a["kind"]) for a in got["attempts"]] == [
        (STAFF, "premium_rate"),
        (STAFF, "international"),
    ]
    admin = await (
        await client.get("/api/reports/blocked-attempts", headers=bearer(client, ADMIN, services))
    ).json()
    assert len(admin["attempts"]) == 2
    resp = await client.get(
        "/api/reports/blocked-attempts", headers=bearer(client, OWNER, services)
    )
    assert resp.status == 403
    page = await (await client.get("/chef", headers=bearer(client, MANAGER, services))).text()
    assert "+442079460000" in page and "Betalnummer" in page
