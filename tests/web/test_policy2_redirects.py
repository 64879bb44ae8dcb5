"""Issue 19, second policy round: a manual redirect always ends (ALV-02, HV-03) and sickness
stays neutral to everyone but the person themself (HV-04).

SQLite only: these check the rules, not storage (the stores run on both engines elsewhere).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from storekit import Storage, make_storage
from webkit import OWNER, ROLE_USERS, FakeClock

from switchboard.config.admin_settings import AdminSettings, parse_administration
from switchboard.web import WebServices
from switchboard.web.auth import Role
from switchboard.web.core import STATE

Client = TestClient[web.Request, web.Application]
STAFF = ROLE_USERS[Role.STAFF]  # bertil.berg


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    """SQLite files only (see the module docstring)."""
    return make_storage("sqlite", tmp_path / "vm")


def bearer(client: Client, user: str, services: WebServices) -> dict[str, str]:
    """A signed token for `user`."""
    token, _ = client.app[STATE].codec.issue(user, services.now())
    return {"Authorization": f"Bearer {token}"}


async def test_alv02_hv03_a_manual_redirect_without_an_end_is_refused_in_swedish(
    client: Client, services: WebServices
) -> None:
    """ALV-02/HV-03: `{"reason": "lunch"}` alone is a 422 saying what to do; nothing stored."""
    h = bearer(client, STAFF, services)
    resp = await client.put(
        f"/api/users/{STAFF}/manual-redirect", json={"reason": "lunch"}, headers=h
    )
    body = await resp.json()
    assert resp.status == 422 and body["error_id"] == "invalid-field", body
    assert body["message"].startswith("until: ange när hänvisningen slutar")
    assert "tills vidare" in body["message"] and "30 dagar" in body["message"]
    assert services.store.manual_for(STAFF, services.now()) is None
    both = {"reason": "lunch", "until": "2026-11-24T13:00", "until_further_notice": True}
    resp = await client.put(f"/api/users/{STAFF}/manual-redirect", json=both, headers=h)
    assert resp.status == 422 and "inte båda" in (await resp.json())["message"]


async def test_alv02_hv03_tills_vidare_is_explicit_bounded_and_expires(
    client: Client, services: WebServices, clock: FakeClock
) -> None:
    """ALV-02/HV-03: "further-notice" ends at the organisation's maximum, shows as "tills
    vidare" on the board and the API, and expires by itself there."""
    h = bearer(client, STAFF, services)
    now = services.now()
    body = {"reason": "lunch", "until": "further-notice"}
    resp = await client.put(f"/api/users/{STAFF}/manual-redirect", json=body, headers=h)
    got = await resp.json()
    assert resp.status == 200, got
    manual = got["manual"]
    assert manual["until_further_notice"] is True
    assert datetime.fromisoformat(manual["until"]) == now + timedelta(days=30)
    row = next(
        u
        for u in (await (await client.get("/api/directory", headers=h)).json())["users"]
        if u["id"] == STAFF
    )
    assert row["until_further_notice"] is True and row["returns_text"] is None
    assert "lunch" in row["message"] and "åter" not in row["message"], row["message"]
    page = await (await client.get("/", headers=h)).text()
    assert "Lunch, tills vidare" in page
    mine = await (await client.get("/min-tillganglighet", headers=h)).text()
    assert "tills vidare (upphör senast" in mine
    clock.advance(timedelta(days=30, seconds=1))
    assert services.store.manual_for(STAFF, services.now()) is None


async def test_alv02_the_maximum_is_the_organisations_choice(
    client: Client, services: WebServices
) -> None:
    """ALV-02: `administration.manual_redirect_max_days` bounds "tills vidare"."""
    services.config = dataclasses.replace(services.config, administration=AdminSettings(7))
    h = bearer(client, STAFF, services)
    body = {"reason": "vacation", "until_further_notice": True}
    resp = await client.put(f"/api/users/{STAFF}/manual-redirect", json=body, headers=h)
    until = datetime.fromisoformat((await resp.json())["manual"]["until"])
    assert until == services.now() + timedelta(days=7)
    parsed, problems = parse_administration({"manual_redirect_max_days": 0, "nope": 1})
    assert parsed.manual_redirect_max_days == 30 and len(problems) == 2


async def test_alv02_the_form_needs_an_end_or_the_tills_vidare_box(
    client: Client, services: WebServices
) -> None:
    """ALV-02: the page's form without an end comes back with the problem; with the box, saved."""
    token, sess = client.app[STATE].codec.issue(STAFF, services.now())
    client.session.cookie_jar.update_cookies({"sb_session": token})
    csrf = client.app[STATE].codec.csrf(sess)
    form = {"csrf": csrf, "reason": "lunch"}
    resp = await client.post("/min-tillganglighet", data=form, allow_redirects=False)
    assert resp.status == 303 and "fel=" in resp.headers["Location"]
    assert services.store.manual_for(STAFF, services.now()) is None
    form["tills_vidare"] = "on"
    resp = await client.post("/min-tillganglighet", data=form, allow_redirects=False)
    assert resp.status == 303 and "fel=" not in resp.headers["Location"]
    assert services.store.manual_for(STAFF, services.now()) is not None


async def test_hv04_a_colleague_never_sees_sick_the_person_does(
    client: Client, services: WebServices, caplog: pytest.LogCaptureFixture
) -> None:
    """HV-04: David's calendar says "Sjuk": a colleague, an administrator and the board see a
    neutral absence; a sick manual redirect is shown as such only to its owner; no log names it."""
    caplog.set_level(logging.DEBUG, logger="switchboard")  # the service's own logs
    colleague = bearer(client, STAFF, services)
    admin = bearer(client, ROLE_USERS[Role.ADMIN], services)
    for h in (colleague, admin):
        resp = await client.get("/api/users/david.dahl/availability", headers=h)
        got = await resp.json()
        assert got["calendar_redirect"]["reason"] == "away", got
        assert "sick" not in json.dumps(got)
    body = {"reason": "sick", "until": "2026-11-25T16:00"}
    resp = await client.put(f"/api/users/{STAFF}/manual-redirect", json=body, headers=colleague)
    assert (await resp.json())["manual"]["reason"] == "sick"  # the person themself
    own = await (await client.get(f"/api/users/{STAFF}/availability", headers=colleague)).json()
    assert own["manual"]["reason"] == "sick"
    other = bearer(client, OWNER, services)
    seen = await (await client.get(f"/api/users/{STAFF}/availability", headers=other)).json()
    assert seen["manual"]["reason"] == "away" and "sick" not in json.dumps(seen)
    board = await (await client.get("/api/directory", headers=other)).text()
    assert "sick" not in board and "care_of_child" not in board
    assert "sick" not in caplog.text and "Sjuk" not in caplog.text
